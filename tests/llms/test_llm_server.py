"""The loopback LLM server: endpoints, stats, runtime config, concurrency, loopback-only."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import pytest

from agentmem_plugins.infer.prompts import build_decision_messages, build_extraction_messages
from agentmem_plugins.testing.llm_server import LLMServer, ServerConfig, count_tokens

MSG = [{"role": "user", "content": "hello there"}]


def _chat(client: httpx.Client, messages=MSG, **extra) -> httpx.Response:
    return client.post("/chat/completions", json={"model": "m", "messages": messages, **extra})


def test_chat_answer_shape_and_token_accounting(llm_server):
    messages = build_extraction_messages(["I live in Rome"])
    with httpx.Client(base_url=llm_server.base_url) as client:
        body = _chat(client, messages, response_format={"type": "json_object"}).json()
    content = body["choices"][0]["message"]["content"]
    assert content.startswith('{"facts": [{"text": "Lives in Rome"')
    prompt_tokens = sum(count_tokens(m["content"]) for m in messages)
    assert body["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": count_tokens(content),
        "total_tokens": prompt_tokens + count_tokens(content),
    }
    stats = llm_server.stats()
    assert stats["prompt_tokens"] == prompt_tokens
    assert stats["completion_tokens"] == count_tokens(content)


def test_stats_count_requests_by_outcome_and_task(llm_server):
    with httpx.Client(base_url=llm_server.base_url) as client:
        for _ in range(3):
            assert _chat(client, build_extraction_messages(["I like tea"])).status_code == 200
        decision = build_decision_messages(["Likes tea"], [{"id": "x", "text": "Likes tea"}])
        assert _chat(client, decision.messages).status_code == 200
        assert _chat(client).status_code == 200  # not one of our prompts
        assert _chat(client, messages=[]).status_code == 400
        assert client.post("/chat/completions", content=b"{nope").status_code == 400
        assert client.get("/nowhere").status_code == 404
        stats = client.get("/stats").json()
    assert stats["chat_requests"] == 5
    assert stats["by_outcome"]["ok"] == 5
    assert stats["by_outcome"]["bad_request"] == 2
    assert stats["by_outcome"]["not_found"] == 1
    assert stats["by_task"] == {"extract_facts": 3, "decide": 1, "other": 1}
    assert stats["requests"] == 9  # every HTTP request, /stats included
    assert stats["connections"] == 1  # keep-alive: one connection served them all
    assert stats["in_flight"] == 0


def test_reset_stats_and_runtime_config(llm_server):
    with httpx.Client(base_url=llm_server.base_url) as client:
        _chat(client)
        assert client.post("/reset-stats").json() == {"status": "ok"}
        assert llm_server.stats()["chat_requests"] == 0
        cfg = client.post("/config", json={"error_rate": 1.0, "rate_limit_share": 0.0}).json()
        assert cfg["error_rate"] == 1.0
        assert _chat(client).status_code == 500
        assert client.post("/config", json={"error_rate": 2}).status_code == 400
        assert client.post("/config", json={"bogus": 1}).status_code == 400
        assert client.get("/config").json()["error_rate"] == 1.0  # bad updates changed nothing
        llm_server.configure(error_rate=0.0)
        assert _chat(client).status_code == 200
        models = client.get("/models").json()
        assert models["data"][0]["id"] == "agentmem-rules"
        assert client.get("/health").json() == {"status": "ok"}


def test_429_carries_retry_after_headers(llm_server_factory):
    server = llm_server_factory(error_rate=1.0, rate_limit_share=1.0, retry_after_s=0.25)
    with httpx.Client(base_url=server.base_url) as client:
        response = _chat(client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"  # whole seconds, as HTTP wants
    assert response.headers["retry-after-ms"] == "250"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_fault_rates_are_seeded_and_roughly_right(llm_server_factory):
    def run(seed):
        server = llm_server_factory(error_rate=0.2, malformed_rate=0.2, seed=seed)
        with httpx.Client(base_url=server.base_url) as client:
            codes = [_chat(client).status_code for _ in range(200)]
        return codes, server.stats()["by_outcome"]

    codes_a, outcomes = run(7)
    codes_b, _ = run(7)
    assert codes_a == codes_b  # same seed, same sequence
    assert 20 <= outcomes["rate_limited"] + outcomes["server_error"] <= 60
    assert 20 <= outcomes["malformed"] <= 60
    assert outcomes["rate_limited"] > 0 and outcomes["server_error"] > 0


def test_hanging_request_is_released_when_the_client_gives_up(llm_server_factory):
    server = llm_server_factory(timeout_rate=1.0, hang_s=30)
    with (
        httpx.Client(base_url=server.base_url, timeout=0.2) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        _chat(client)
    deadline = time.monotonic() + 5
    while server.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.stats()["in_flight"] == 0
    assert server.stats()["by_outcome"]["timeout"] == 1


def test_chunked_request_body(llm_server):
    def chunks():
        yield b'{"model": "m", "messages": '
        yield b'[{"role": "user", "content": "hi"}]}'

    with httpx.Client(base_url=llm_server.base_url) as client:
        response = client.post("/chat/completions", content=chunks())
    assert response.status_code == 200


async def test_serves_many_slow_requests_concurrently(llm_server_factory):
    server = llm_server_factory(latency_ms=200)
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as client:
        start = time.monotonic()
        responses = await asyncio.gather(
            *(client.post("/chat/completions", json={"messages": MSG}) for _ in range(200))
        )
        elapsed = time.monotonic() - start
    assert all(r.status_code == 200 for r in responses)
    assert server.stats()["peak_in_flight"] >= 100  # not serialised
    assert elapsed < 20  # serialised would take 40 s; generous for 2 slow cores


async def test_async_start_stop_on_the_callers_loop():
    async with LLMServer(latency_ms=1) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            response = await client.post("/chat/completions", json={"messages": MSG})
        assert response.status_code == 200
    assert server.stats()["by_outcome"]["ok"] == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.com", ""])
def test_refuses_non_loopback_hosts(host):
    with pytest.raises(ValueError, match="loopback"):
        LLMServer(host=host)


def test_localhost_means_ipv4_loopback():
    assert LLMServer(host="localhost").host == "127.0.0.1"


def test_config_validation():
    with pytest.raises(ValueError):
        ServerConfig(error_rate=0.6, malformed_rate=0.6)
    with pytest.raises(ValueError):
        ServerConfig(latency_ms=-1)


def test_command_line_server():
    cmd = [
        sys.executable,
        "-m",
        "agentmem_plugins.testing.llm_server",
        "--port",
        "0",
        "--latency-ms",
        "5",
        "--seed",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line + proc.stderr.read()
        base_url = line.rsplit(" ", 1)[1].strip()
        with httpx.Client(base_url=base_url) as client:
            assert _chat(client).status_code == 200
            assert client.get("/stats").json()["by_outcome"]["ok"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_command_line_refuses_public_bind():
    cmd = [sys.executable, "-m", "agentmem_plugins.testing.llm_server", "--host", "0.0.0.0"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "loopback" in result.stderr

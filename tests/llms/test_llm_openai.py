"""OpenAIChatModel: the request it sends and how it classifies every kind of failure."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from agentmem_plugins._config import MemoryConfig
from agentmem_plugins._errors import (
    ConfigError,
    LLMRequestError,
    LLMResponseError,
    LLMTransientError,
)
from agentmem_plugins.infer.prompts import build_extraction_messages
from agentmem_plugins.infer.schema import ExtractionAnswer
from agentmem_plugins.llms import ChatModel, OpenAIChatModel, call_json, parse_json_answer
from agentmem_plugins.llms._openai import parse_retry_after

MSG = [{"role": "user", "content": "hello"}]
# the tests against a real socket run with both HTTP clients: same requests, same errors
HTTP_CLIENTS = pytest.mark.parametrize("http", ["httpx", "aiohttp"])


def _completion(content, usage=None):
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
    if usage is not None:
        body["usage"] = usage
    return body


def _mock(handler):
    return OpenAIChatModel(
        "http://127.0.0.1:9/v1", "m", api_key="sk-test", transport=httpx.MockTransport(handler)
    )


async def test_request_shape_and_usage_counters():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        return httpx.Response(200, json=_completion('{"ok": true}', usage))

    llm = _mock(handler)
    assert isinstance(llm, ChatModel)
    assert await llm.complete(MSG, json_mode=True) == '{"ok": true}'
    assert await llm.complete(MSG) == '{"ok": true}'
    await llm.aclose()
    first, second = seen
    assert first.method == "POST" and first.url.path == "/v1/chat/completions"
    assert first.headers["authorization"] == "Bearer sk-test"
    body = json.loads(first.content)
    assert body["model"] == "m" and body["messages"] == MSG
    assert body["response_format"] == {"type": "json_object"}
    assert "temperature" not in body
    assert "response_format" not in json.loads(second.content)
    assert (llm.requests, llm.prompt_tokens, llm.completion_tokens) == (2, 14, 6)


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        (429, {"Retry-After": "3"}, LLMTransientError, 3.0),
        (429, {"retry-after-ms": "250", "Retry-After": "1"}, LLMTransientError, 0.25),
        (429, {}, LLMTransientError, None),
        (408, {}, LLMTransientError, None),
        (500, {}, LLMTransientError, None),
        (503, {"Retry-After": "2"}, LLMTransientError, 2.0),
        (400, {}, LLMRequestError, None),
        (401, {}, LLMRequestError, None),
        (404, {}, LLMRequestError, None),
        (422, {}, LLMRequestError, None),
    ],
)
async def test_http_status_classification(status, headers, error, retry_after):
    llm = _mock(lambda r: httpx.Response(status, headers=headers, json={"error": "x"}))
    with pytest.raises(error) as info:
        await llm.complete(MSG)
    assert str(status) in str(info.value)
    if error is LLMTransientError:
        assert info.value.retry_after == retry_after
    await llm.aclose()


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        json.dumps({"choices": []}).encode(),
        json.dumps({"object": "error"}).encode(),
        json.dumps(_completion(None)).encode(),
        json.dumps([1, 2]).encode(),
    ],
)
async def test_bad_bodies_are_response_errors(body):
    llm = _mock(lambda r: httpx.Response(200, content=body))
    with pytest.raises(LLMResponseError):
        await llm.complete(MSG)
    await llm.aclose()


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
async def test_transport_failures_are_transient(exc):
    def handler(request):
        raise exc

    llm = _mock(handler)
    with pytest.raises(LLMTransientError):
        await llm.complete(MSG)
    await llm.aclose()


@HTTP_CLIENTS
async def test_connection_refused_on_loopback_is_transient(llm_server_factory, http):
    server = llm_server_factory()
    port = server.port
    server.close()  # nothing listens on that port any more
    url = f"http://127.0.0.1:{port}/v1"
    async with OpenAIChatModel(url, "m", timeout_s=2, http_client=http) as llm:
        with pytest.raises(LLMTransientError, match="connection"):
            await llm.complete(MSG)


def test_parse_retry_after_forms():
    h = httpx.Headers
    assert parse_retry_after(h({"Retry-After": "5"})) == 5.0
    assert parse_retry_after(h({"Retry-After": "0.5"})) == 0.5
    assert parse_retry_after(h({"retry-after-ms": "1500"})) == 1.5
    assert parse_retry_after(h({"Retry-After": "soon"})) is None
    assert parse_retry_after(h({})) is None
    in_past = parse_retry_after(h({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert in_past == 0.0


def test_from_config():
    cfg = MemoryConfig(
        llm_base_url="http://127.0.0.1:1/v1/",
        llm_model="tiny",
        llm_api_key="k",
        llm_timeout_s=3,
        llm_max_concurrency=7,
    )
    llm = OpenAIChatModel.from_config(cfg)  # aiohttp by default
    assert (llm.base_url, llm.model) == ("http://127.0.0.1:1/v1", "tiny")
    assert llm._aiohttp is not None and llm._aiohttp._timeout.sock_read == 3
    # 7 calls and one hedged copy beside them (llm_hedge_room's default for 7): a copy
    # waiting for a pooled connection would wait for the hung request it hedges
    assert llm._aiohttp._max_connections == 8 and llm._clients == []
    unhedged = cfg.model_copy(update={"llm_hedge_percentile": None})
    assert OpenAIChatModel.from_config(unhedged)._aiohttp._max_connections == 7
    roomy = cfg.model_copy(update={"llm_hedge_room": 5})
    assert OpenAIChatModel.from_config(roomy)._aiohttp._max_connections == 12
    httpx_one = OpenAIChatModel.from_config(cfg.model_copy(update={"llm_http_client": "httpx"}))
    assert httpx_one._aiohttp is None and httpx_one._clients[0].timeout.read == 3
    assert len(httpx_one._clients) == 1  # 8 connections: one pool
    twenty = OpenAIChatModel("http://127.0.0.1:1", "m", max_connections=20, http_client="httpx")
    assert len(twenty._clients) == 3
    with pytest.raises(ConfigError, match="llm_base_url"):
        OpenAIChatModel.from_config(MemoryConfig(llm_base_url=None, llm_model=None))
    mocked = OpenAIChatModel("http://127.0.0.1:1", "m", transport=httpx.MockTransport(print))
    assert mocked._aiohttp is None  # an httpx transport: httpx
    with pytest.raises(ConfigError, match="transport"):
        OpenAIChatModel(
            "http://127.0.0.1:1", "m", transport=httpx.MockTransport(print), http_client="aiohttp"
        )
    with pytest.raises(ConfigError, match="http_client"):
        OpenAIChatModel("http://127.0.0.1:1", "m", http_client="urllib")  # type: ignore[arg-type]


# --- against the loopback server, one fault kind at a time ---------------------------------


@HTTP_CLIENTS
async def test_ok_against_the_loopback_server(llm_server, http):
    async with OpenAIChatModel(llm_server.base_url, "agentmem-rules", http_client=http) as llm:
        messages = build_extraction_messages(["My name is Bob. I work at Acme."])
        answer = await call_json(llm, messages, schema=ExtractionAnswer)
    assert [f.text for f in answer.facts] == ["Name is Bob", "Works at Acme"]
    stats = llm_server.stats()
    assert stats["by_outcome"]["ok"] == 1 and stats["by_task"]["extract_facts"] == 1
    assert stats["prompt_tokens"] == llm.prompt_tokens > 0
    assert stats["completion_tokens"] == llm.completion_tokens > 0


@HTTP_CLIENTS
async def test_429_with_retry_after(llm_server_factory, http):
    server = llm_server_factory(error_rate=1.0, rate_limit_share=1.0, retry_after_s=2)
    async with OpenAIChatModel(server.base_url, "m", http_client=http) as llm:
        with pytest.raises(LLMTransientError, match="429") as info:
            await llm.complete(MSG)
    assert info.value.retry_after == 2.0
    assert server.stats()["by_outcome"]["rate_limited"] == 1


@HTTP_CLIENTS
async def test_500(llm_server_factory, http):
    server = llm_server_factory(error_rate=1.0, rate_limit_share=0.0)
    async with OpenAIChatModel(server.base_url, "m", http_client=http) as llm:
        with pytest.raises(LLMTransientError, match="500") as info:
            await llm.complete(MSG)
    assert info.value.retry_after is None
    assert server.stats()["by_outcome"]["server_error"] == 1


@HTTP_CLIENTS
async def test_timeout(llm_server_factory, http):
    server = llm_server_factory(timeout_rate=1.0, hang_s=20)
    async with OpenAIChatModel(server.base_url, "m", timeout_s=0.3, http_client=http) as llm:
        with pytest.raises(LLMTransientError, match="timed out"):
            await llm.complete(MSG)
    assert server.stats()["by_outcome"]["timeout"] == 1


@HTTP_CLIENTS
async def test_malformed_is_reasked_then_gives_up(llm_server_factory, http):
    server = llm_server_factory(malformed_rate=1.0)
    async with OpenAIChatModel(server.base_url, "m", http_client=http) as llm:
        text = await llm.complete(build_extraction_messages(["I like tea"]), json_mode=True)
        with pytest.raises(LLMResponseError):  # the HTTP call succeeded; the content is bad
            parse_json_answer(text, ExtractionAnswer)
        with pytest.raises(LLMResponseError):
            await call_json(
                llm,
                build_extraction_messages(["I like tea"]),
                schema=ExtractionAnswer,
                max_reasks=2,
            )
    assert server.stats()["by_outcome"]["malformed"] == 4


@HTTP_CLIENTS
async def test_bad_request_is_not_retried(llm_server, http):
    async with OpenAIChatModel(llm_server.base_url, "m", http_client=http) as llm:
        with pytest.raises(LLMRequestError, match="400"):
            await call_json(llm, [], schema=ExtractionAnswer, max_retries=3)
    assert llm_server.stats()["by_outcome"]["bad_request"] == 1


@HTTP_CLIENTS
async def test_every_fault_kind_mixed_still_yields_answers(llm_server_factory, http):
    server = llm_server_factory(
        error_rate=0.3, timeout_rate=0.1, malformed_rate=0.2, retry_after_s=0.01, hang_s=5, seed=3
    )
    async with OpenAIChatModel(server.base_url, "m", timeout_s=0.5, http_client=http) as llm:
        for i in range(25):
            answer = await call_json(
                llm,
                build_extraction_messages([f"I live in city {i}"]),
                schema=ExtractionAnswer,
                max_retries=20,
                max_reasks=10,
                max_wait_s=0.02,
                base_wait_s=0.001,
            )
            assert [f.text for f in answer.facts] == [f"Lives in city {i}"]
    outcomes = server.stats()["by_outcome"]
    assert outcomes["ok"] == 25
    for kind in ("rate_limited", "server_error", "timeout", "malformed"):
        assert outcomes[kind] > 0, outcomes


@HTTP_CLIENTS
async def test_both_clients_go_through_the_proxy_the_environment_names(monkeypatch, http):
    # httpx honours HTTP_PROXY / NO_PROXY by default; the aiohttp client must too, or
    # switching llm_http_client would silently bypass a proxy
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        seen.append(head.split(b"\r\n")[0])
        body = json.dumps(_completion('{"ok": true}')).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    try:
        # a name that resolves nowhere: only the proxy can answer for it
        async with OpenAIChatModel("http://llm.example.invalid/v1", "m", http_client=http) as llm:
            assert await llm.complete(MSG) == '{"ok": true}'
    finally:
        server.close()
        await server.wait_closed()
    assert seen == [b"POST http://llm.example.invalid/v1/chat/completions HTTP/1.1"]


@HTTP_CLIENTS
async def test_a_netrc_entry_for_the_host_does_not_clash_with_the_api_key(
    llm_server, monkeypatch, tmp_path, http
):
    # aiohttp with trust_env=True read ~/.netrc on every request and, finding the host,
    # refused to send the API key's Authorization header beside it (ValueError); like
    # httpx (>= 0.24) the client now leaves netrc alone
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    base = llm_server.base_url
    async with OpenAIChatModel(base, "agentmem-rules", api_key="sk-test", http_client=http) as llm:
        messages = build_extraction_messages(["My name is Bob."])
        answer = await call_json(llm, messages, schema=ExtractionAnswer)
    assert [f.text for f in answer.facts] == ["Name is Bob"]


async def test_concurrent_first_calls_share_one_aiohttp_session(llm_server, monkeypatch):
    import aiohttp

    made = []
    real = aiohttp.ClientSession

    def counting(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(aiohttp, "ClientSession", counting)
    async with OpenAIChatModel(llm_server.base_url, "agentmem-rules") as llm:  # aiohttp
        await asyncio.gather(*(llm.complete(MSG) for _ in range(10)))
    assert len(made) == 1

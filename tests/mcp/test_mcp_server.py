"""``agentmem mcp`` driven by the MCP SDK's own client: in process for the tool
semantics, and end to end over stdio and streamable HTTP against the real CLI."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import Client, StdioServerParameters  # noqa: E402

from agentmem_plugins import AsyncMemory, InvalidInputError, Memory  # noqa: E402
from agentmem_plugins.mcp_server import build_server, parse_http_address  # noqa: E402

TOOLS = {
    "add_memory": ["text", "user_id", "agent_id", "run_id", "metadata", "ttl_seconds"],
    "search_memories": ["query", "user_id", "agent_id", "run_id", "limit", "mode", "filters"],
    "get_memory": ["id"],
    "list_memories": ["user_id", "agent_id", "run_id", "limit", "offset"],
    "update_memory": ["id", "text", "metadata"],
    "delete_memory": ["id"],
    "memory_history": ["id"],
}


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """The structured content of a successful call (asserting it succeeded)."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    assert result.content and result.content[0].text  # readable text as well
    return result.structured_content


async def error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return result.content[0].text


@pytest.fixture
async def store(tmp_path):
    memory = AsyncMemory(path=tmp_path / "store", embedder="hash")
    yield memory
    await memory.close()


# --- the tools, in process ---------------------------------------------------------------------


async def test_tools_are_listed_with_exactly_the_contracted_parameters(store) -> None:
    async with Client(build_server(store)) as client:
        listed = {
            t.name: list(t.input_schema["properties"]) for t in (await client.list_tools()).tools
        }
    assert listed == TOOLS


async def test_every_tool_round_trip(store) -> None:
    async with Client(build_server(store)) as client:
        added = await call(
            client,
            "add_memory",
            text="Alice likes green tea",
            user_id="alice",
            metadata={"topic": "drinks"},
        )
        [event] = added["results"]
        memory_id = event["id"]
        assert event["event"] == "ADD"
        await call(client, "add_memory", text="Alice lives in Paris", user_id="alice")
        await call(client, "add_memory", text="Bob likes coffee", user_id="bob")

        hits = await call(client, "search_memories", query="Alice likes green tea", user_id="alice")
        assert hits["memories"][0]["id"] == memory_id
        assert {m["user_id"] for m in hits["memories"]} == {"alice"}
        filtered = await call(
            client,
            "search_memories",
            query="alice",
            user_id="alice",
            filters={"topic": "drinks"},
            mode="hybrid",
            limit=5,
        )
        assert [m["id"] for m in filtered["memories"]] == [memory_id]

        got = await call(client, "get_memory", id=memory_id)
        assert got["memory"]["text"] == "Alice likes green tea"
        listed = await call(client, "list_memories", user_id="alice", limit=1, offset=1)
        assert [m["text"] for m in listed["memories"]] == ["Alice lives in Paris"]

        updated = await call(client, "update_memory", id=memory_id, text="Alice likes oolong")
        assert updated["memory"]["text"] == "Alice likes oolong"
        assert updated["memory"]["metadata"] == {"topic": "drinks"}
        deleted = await call(client, "delete_memory", id=memory_id)
        assert deleted["deleted"] is True
        history = await call(client, "memory_history", id=memory_id)
        assert [e["event"] for e in history["events"]] == ["ADD", "UPDATE", "DELETE"]
        text = (await client.call_tool("memory_history", {"id": memory_id})).content[0].text
        assert "'Alice likes green tea' -> 'Alice likes oolong'" in text


async def test_ttl_seconds_makes_a_memory_expire(store, clock) -> None:
    async with Client(build_server(store, {"user_id": "alice"})) as client:
        added = await call(client, "add_memory", text="door code 4711", ttl_seconds=60)
        memory_id = added["results"][0]["id"]
        got = await call(client, "get_memory", id=memory_id)
        assert "expires_at" in got["memory"]
        clock.advance(61)
        assert "no memory with id" in await error(client, "get_memory", id=memory_id)
        assert (await call(client, "list_memories"))["memories"] == []
        assert "ttl must be positive" in await error(client, "add_memory", text="x", ttl_seconds=-1)


async def test_a_pinned_server_never_reaches_another_scope(store) -> None:
    bob_id = (await store.add("Bob's secret", user_id="bob", infer=False)).results[0].id
    async with Client(build_server(store, {"user_id": "alice"})) as client:
        mine = (await call(client, "add_memory", text="Alice's note"))["results"][0]["id"]
        # a different user_id in the arguments is an error, never obeyed
        for tool, args in [
            ("add_memory", {"text": "x", "user_id": "bob"}),
            ("search_memories", {"query": "secret", "user_id": "bob"}),
            ("list_memories", {"user_id": "bob"}),
        ]:
            assert "pinned to user_id='alice'" in await error(client, tool, **args)
        # by id: another scope's memory is "not found", exactly like an unknown id
        for tool, args in [
            ("get_memory", {"id": bob_id}),
            ("update_memory", {"id": bob_id, "text": "hacked"}),
            ("delete_memory", {"id": bob_id}),
            ("memory_history", {"id": bob_id}),
        ]:
            assert f"no memory with id '{bob_id}'" in await error(client, tool, **args)
        hits = await call(client, "search_memories", query="secret")
        assert [m["id"] for m in hits["memories"]] == [mine]
        # the same user_id, or a narrower scope under it, is fine
        await call(client, "add_memory", text="run note", user_id="alice", run_id="r1")
        narrowed = await call(client, "list_memories", run_id="r1")
        assert [m["text"] for m in narrowed["memories"]] == ["run note"]
    assert (await store.get(bob_id)).text == "Bob's secret"  # untouched
    assert await store.count(user_id="bob") == 1


async def test_bad_input_is_a_tool_error_and_the_server_keeps_serving(store) -> None:
    async with Client(build_server(store)) as client:
        assert "no scope given" in await error(client, "add_memory", text="x")
        assert "text is empty" in await error(client, "add_memory", text="  ", user_id="u")
        assert "metadata" in await error(
            client, "add_memory", text="x", user_id="u", metadata={"": 1}
        )
        assert "limit" in await error(client, "search_memories", query="x", user_id="u", limit=0)
        assert "mode" in await error(
            client, "search_memories", query="x", user_id="u", mode="magic"
        )
        bad_filter = await error(
            client, "search_memories", query="x", user_id="u", filters={"a": {"regex": "."}}
        )
        assert "regex" in bad_filter
        assert "update_memory needs text or metadata" in await error(
            client, "update_memory", id="x"
        )
        assert "no memory with id 'nope'" in await error(client, "get_memory", id="nope")
        assert "no memory" in await error(client, "memory_history", id="nope")
        assert "offset" in await error(client, "list_memories", user_id="u", offset=-1)
        # still serving
        added = await call(client, "add_memory", text="still here", user_id="u")
        assert added["results"][0]["event"] == "ADD"
    assert await store.count(user_id="u") == 1


def test_http_address_parsing() -> None:
    assert parse_http_address("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert parse_http_address("[::1]:9000") == ("::1", 9000)
    for bad in ("8000", "host:", "host:port", "host:70000"):
        with pytest.raises(InvalidInputError, match="HOST:PORT"):
            parse_http_address(bad)


# --- end to end: the real CLI over stdio and streamable HTTP -------------------------------------


def _cli(path: Path, *extra: str) -> list[str]:
    return ["-m", "agentmem_plugins.cli", "--path", str(path), "--embedder", "hash", "mcp", *extra]


@pytest.mark.slow  # a server process: ~5 s to start alone, more on a busy machine
async def test_stdio_end_to_end_pinned_and_intelligent(tmp_path, llm_server) -> None:
    with Memory(path=tmp_path, embedder="hash") as memory:
        bob_id = memory.add("Bob's note", user_id="bob", infer=False).results[0].id
    params = StdioServerParameters(
        command=sys.executable,
        args=_cli(tmp_path, "--user-id", "alice"),
        env={
            "AGENTMEM_LLM_BASE_URL": llm_server.base_url,
            "AGENTMEM_LLM_MODEL": "agentmem-rules",
        },
    )
    async with Client(params, read_timeout_seconds=60) as client:
        assert {t.name for t in (await client.list_tools()).tools} == set(TOOLS)
        # an LLM is configured: add_memory extracts facts (intelligent mode)
        added = await call(client, "add_memory", text="Hi! My name is Alice. I live in Paris.")
        assert sorted(e["text"] for e in added["results"]) == ["Lives in Paris", "Name is Alice"]
        moved = await call(client, "add_memory", text="I live in Berlin.")
        assert {e["event"] for e in moved["results"]} >= {"INVALIDATE", "ADD"}
        hits = await call(client, "search_memories", query="lives in")
        assert hits["memories"][0]["text"] == "Lives in Berlin"
        assert "pinned" in await error(client, "list_memories", user_id="bob")
        assert "no memory" in await error(client, "get_memory", id=bob_id)
    with Memory(path=tmp_path, embedder="hash") as memory:
        assert memory.count(user_id="alice") == 2  # Paris invalidated, kept aside
        assert memory.count(user_id="bob") == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow  # a server process: ~5 s to start alone, more on a busy machine
async def test_streamable_http_end_to_end(tmp_path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, *_cli(tmp_path, "--agent-id", "helper", "--http", f"127.0.0.1:{port}")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP server did not start"
                await asyncio.sleep(0.2)
        url = f"http://127.0.0.1:{port}/mcp"
        async with Client(url) as client:
            added = await call(client, "add_memory", text="the build uses uv", ttl_seconds=3600)
            memory_id = added["results"][0]["id"]
            assert "pinned to agent_id='helper'" in await error(
                client, "add_memory", text="x", agent_id="other"
            )
        async with Client(url) as again:  # a second session sees the same store
            hits = await call(again, "search_memories", query="the build uses")
            assert [m["id"] for m in hits["memories"]] == [memory_id]
            assert hits["memories"][0]["agent_id"] == "helper"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with Memory(path=tmp_path, embedder="hash") as memory:  # closed cleanly, data kept
        assert memory.get(memory_id).expires_at is not None

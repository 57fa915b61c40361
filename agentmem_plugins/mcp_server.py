"""``agentmem mcp``: a store served to agents over the Model Context Protocol.

Built on the official ``mcp`` Python SDK (``MCPServer``); stdio by default (Claude
Desktop, Cursor, IDE agents), streamable HTTP with ``--http HOST:PORT``
(``langchain-mcp-adapters`` and other remote clients, at ``http://HOST:PORT/mcp``).

Tools: ``add_memory``, ``search_memories``, ``get_memory``, ``list_memories``,
``update_memory``, ``delete_memory``, ``memory_history``. Each returns readable text
plus structured content (the same data as JSON).

**Pinned scope.** ``--user-id`` / ``--agent-id`` / ``--run-id`` pin the server to a
scope: every call runs inside it. A call naming a different value for a pinned field is
an error; a call may narrow the scope with fields that are not pinned (``run_id`` under
a pinned ``user_id``). Calls by id (get, update, delete, history) reach only memories of
the pinned scope; any other id is "not found", as an unknown one is. The history of a
memory that no longer exists cannot be proven to belong to the scope, so a pinned server
reports it as not found too.

Bad input comes back as an MCP tool error (``isError``) carrying the library's message;
the server keeps running.

Example::

    from agentmem_plugins import AsyncMemory
    from agentmem_plugins.mcp_server import build_server

    memory = AsyncMemory(path="./mem", embedder="hash")
    server = build_server(memory, scope={"user_id": "alice"})
    # await server.run_stdio_async()
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal

try:
    import anyio
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import CallToolResult, TextContent
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        'agentmem mcp needs the MCP SDK: pip install "agentmem-plugins[mcp]"'
    ) from exc

from ._errors import AgentMemError, InvalidInputError, NotFoundError, ScopeError
from ._memory import AsyncMemory
from ._types import AddResult, HistoryEvent, MemoryItem
from ._validation import SCOPE_FIELDS, check_id, check_text

__all__ = ["MemoryTools", "build_server", "parse_http_address", "serve"]

INSTRUCTIONS = """\
Long-term memory. Use search_memories before answering questions about the user, their
preferences or earlier conversations; use add_memory to remember durable facts (one fact
per call reads best); update_memory/delete_memory to correct or forget them.
ttl_seconds on add_memory makes a memory expire (e.g. a code valid for one day).
"""

Mode = Literal["vector", "fulltext", "hybrid"]


def _item_json(item: MemoryItem) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude_none=True)


def _item_line(item: MemoryItem) -> str:
    scope = ", ".join(f"{k}={v}" for k in SCOPE_FIELDS if (v := getattr(item, k)))
    extras = [scope]
    if item.score is not None:
        extras.append(f"score {item.score:.3f}")
    if item.metadata:
        extras.append(f"metadata {json.dumps(item.metadata, ensure_ascii=False)}")
    if item.expires_at is not None:
        extras.append(f"expires {item.expires_at:%Y-%m-%d %H:%M:%S} UTC")
    if item.invalid_at is not None:
        extras.append(f"invalid since {item.invalid_at:%Y-%m-%d}")
    return f"[{item.id}] {item.text} ({'; '.join(e for e in extras if e)})"


def _result(text: str, structured: dict[str, Any]) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured
    )


class MemoryTools:
    """The seven tools over one :class:`AsyncMemory`, optionally pinned to a scope."""

    def __init__(self, memory: AsyncMemory, scope: Mapping[str, str] | None = None) -> None:
        self.memory = memory
        self.pinned = dict(scope or {})
        unknown = set(self.pinned) - set(SCOPE_FIELDS)
        if unknown:
            raise ScopeError(f"unknown scope fields {sorted(unknown)}; use {SCOPE_FIELDS}")

    # --- scope ---------------------------------------------------------------------------

    def _scope(
        self, user_id: str | None, agent_id: str | None, run_id: str | None
    ) -> dict[str, Any]:
        given = {
            k: v
            for k, v in zip(SCOPE_FIELDS, (user_id, agent_id, run_id), strict=True)
            if v is not None
        }
        for key, value in self.pinned.items():
            if key in given and given[key] != value:
                raise ScopeError(
                    f"this server is pinned to {key}={value!r}; {key}={given[key]!r} is "
                    f"another scope (leave {key} out)"
                )
        scope = {**given, **self.pinned}
        if not scope:
            raise ScopeError(
                "no scope given: pass user_id, agent_id or run_id (this server is not "
                "pinned to a scope; start it with --user-id to pin one)"
            )
        return scope

    async def _owned(self, memory_id: Any) -> MemoryItem:
        """The memory ``memory_id`` if it exists inside the pinned scope."""
        memory_id = check_id(memory_id, field="id")
        found = await self.memory.get_many([memory_id], **self.pinned)
        if not found:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return found[0]

    # --- tools ---------------------------------------------------------------------------

    async def add_memory(
        self,
        text: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        ttl_seconds: float | None = None,
    ) -> CallToolResult:
        """Remember a text. With an LLM configured, facts are extracted from it and
        reconciled with what is stored (added, updated or invalidated). ttl_seconds makes
        the memory expire after that many seconds."""
        check_text(text, max_chars=self.memory.config.max_text_chars, field="text")
        result: AddResult = await self.memory.add(
            text,
            **self._scope(user_id, agent_id, run_id),
            metadata=metadata,
            ttl=ttl_seconds,
        )
        lines = [f"{e.event} [{e.id}] {e.text}" for e in result.results]
        if result.pending_id:
            lines.append(f"PENDING {result.pending_id}: the LLM failed; the input is kept")
        if not lines:
            lines.append("nothing new to remember")
        return _result("\n".join(lines), result.model_dump(mode="json", exclude_none=True))

    async def search_memories(
        self,
        query: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        mode: Mode = "vector",
        filters: dict[str, Any] | None = None,
    ) -> CallToolResult:
        """Find the memories most relevant to a query, best first. mode: "vector"
        (meaning), "fulltext" (keywords) or "hybrid" (both). filters match metadata,
        e.g. {"topic": "food"} or {"priority": {"gte": 2}}."""
        hits = await self.memory.search(
            query,
            **self._scope(user_id, agent_id, run_id),
            limit=limit,
            mode=mode,
            filters=filters,
        )
        text = "\n".join(f"{n}. {_item_line(h)}" for n, h in enumerate(hits, 1))
        return _result(text or "no matching memories", {"memories": [_item_json(h) for h in hits]})

    async def get_memory(self, id: str) -> CallToolResult:
        """One memory by id."""
        item = await self._owned(id)
        return _result(_item_line(item), {"memory": _item_json(item)})

    async def list_memories(
        self,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> CallToolResult:
        """The memories of a scope, oldest first; page with limit and offset."""
        items = await self.memory.get_all(
            **self._scope(user_id, agent_id, run_id), limit=limit, offset=offset
        )
        text = "\n".join(f"{n}. {_item_line(m)}" for n, m in enumerate(items, offset + 1))
        return _result(text or "no memories", {"memories": [_item_json(m) for m in items]})

    async def update_memory(
        self, id: str, text: str | None = None, metadata: dict[str, Any] | None = None
    ) -> CallToolResult:
        """Change a memory's text and/or replace its metadata."""
        if text is None and metadata is None:
            raise InvalidInputError("update_memory needs text or metadata")
        await self._owned(id)
        item = await self.memory.update(id, text=text, metadata=metadata)
        return _result(f"UPDATE {_item_line(item)}", {"memory": _item_json(item)})

    async def delete_memory(self, id: str) -> CallToolResult:
        """Forget one memory by id (its history stays)."""
        item = await self._owned(id)
        await self.memory.delete(item.id)
        return _result(
            f"DELETE [{item.id}] {item.text}", {"deleted": True, "id": item.id, "text": item.text}
        )

    async def memory_history(self, id: str) -> CallToolResult:
        """Every change of a memory (add, update, invalidate, expire, delete), oldest first."""
        if self.pinned:
            await self._owned(id)
        events: list[HistoryEvent] = await self.memory.history(check_id(id, field="id"))
        text = "\n".join(_event_line(e) for e in events)
        return _result(
            text, {"events": [e.model_dump(mode="json", exclude_none=True) for e in events]}
        )

    def tools(self) -> list[Callable[..., Awaitable[CallToolResult]]]:
        return [
            self.add_memory,
            self.search_memories,
            self.get_memory,
            self.list_memories,
            self.update_memory,
            self.delete_memory,
            self.memory_history,
        ]


def _event_line(event: HistoryEvent) -> str:
    if event.event in ("UPDATE",) and event.old_text != event.new_text:
        change = f"{event.old_text!r} -> {event.new_text!r}"
    else:
        change = repr(event.new_text if event.new_text is not None else event.old_text)
    reason = f" ({event.reason})" if event.reason else ""
    return f"{event.created_at:%Y-%m-%d %H:%M:%S} {event.event} {change}{reason}"


def _as_tool_error(
    fn: Callable[..., Awaitable[CallToolResult]],
) -> Callable[..., Awaitable[CallToolResult]]:
    """Our errors become the tool's error result, carrying our message."""
    import functools

    @functools.wraps(fn)
    async def tool(*args: Any, **kwargs: Any) -> CallToolResult:
        try:
            return await fn(*args, **kwargs)
        except AgentMemError as exc:
            raise ToolError(str(exc)) from exc

    return tool


def build_server(memory: AsyncMemory, scope: Mapping[str, str] | None = None) -> MCPServer[Any]:
    """An ``MCPServer`` with the memory tools over ``memory`` (pinned to ``scope``)."""
    tools = MemoryTools(memory, scope)
    pinned = ", ".join(f"{k}={v}" for k, v in tools.pinned.items())
    server: MCPServer[Any] = MCPServer(
        "agentmem",
        instructions=INSTRUCTIONS + (f"This server is pinned to {pinned}.\n" if pinned else ""),
        log_level="WARNING",
    )
    for fn in tools.tools():
        server.add_tool(_as_tool_error(fn), name=fn.__name__, structured_output=False)
    return server


def parse_http_address(value: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:8000"`` for IPv6) -> ``(host, port)``."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInputError(f"--http must be HOST:PORT, e.g. 127.0.0.1:8000, got {value!r}")
    return host, int(port)


def serve(
    *,
    path: Path,
    embedder: str | None = None,
    scope: Mapping[str, str] | None = None,
    http: str | None = None,
) -> None:
    """Open the store and serve it until the client (stdio) or a signal (HTTP) ends it."""
    address = parse_http_address(http) if http else None
    fields: dict[str, Any] = {"path": path}
    if embedder:
        fields["embedder"] = embedder

    async def main() -> None:
        memory = AsyncMemory(**fields)
        try:
            server = build_server(memory, scope)
            if address is None:
                await server.run_stdio_async()
            else:
                host, port = address
                await server.run_streamable_http_async(host=host, port=port)
        finally:
            await memory.close()

    anyio.run(main)

"""``AgentMemStore``: LangGraph's long-term memory store (``BaseStore``) on the core.

Use it wherever LangGraph takes a store: ``create_agent(model, tools, store=...)``,
``graph.compile(store=...)``, LangMem's memory tools.

**Mapping.** One LangGraph item is one core memory:

* scope: the store's ``agent_id`` (default ``"langgraph"``), plus ``user_id`` taken from
  the namespace label at position ``user_label`` when you set it (``user_label=1`` for
  the usual ``("memories", "{user_id}")``), so core-side reads such as
  ``Memory.search(user_id="alice", agent_id="langgraph")`` see the same memories;
* id: a UUID5 of (scope, namespace, key), so a key is unique within its namespace;
* text: the value's text at the ``index`` fields (embedded by the core), or, for items
  not indexed, the value as JSON (not searchable by query);
* metadata (reserved keys): ``lg.ns`` / ``lg.ns.<i>`` / ``lg.depth`` (namespace, for
  prefix search), ``lg.key``, ``lg.indexed``, ``lg.value`` (the value, returned
  unchanged) and a flattened copy of the value's fields for filters: ``v.<path>`` for
  scalars, ``vj.<path>`` for lists (as canonical JSON).

**Behaviour matched to LangGraph's ``InMemoryStore``** (tested side by side): namespace
validation, ``list_namespaces`` (prefix/suffix with ``"*"``, ``max_depth``, sorted,
``limit``/``offset``), filters (``{"k": v}``, nested dicts, ``$eq $ne $gt $gte $lt
$lte``), search with a query (cosine, best first; items put with ``index=False`` only
fill up a short page, unscored) and without (oldest first), ``batch`` results in op
order with every read of a batch seeing the state before its writes, and the last of
several writes to one key winning. Differences: ``created_at`` is kept across updates
(``InMemoryStore`` resets it); ``list_namespaces`` lists namespaces holding at least one
item (``InMemoryStore`` also lists emptied and merely-read ones); filter keys follow the
core's key charset (letters, digits, ``_ - .`` and spaces); values must be JSON.

**TTL** (as LangGraph's ``PostgresStore``), with ``ttl={"default_ttl": minutes,
"refresh_on_read": bool, "sweep_interval_minutes": n}`` (which sets ``supports_ttl``):
``put(..., ttl=minutes)`` makes an item expire that many minutes later (``default_ttl``
when ``ttl`` is not given; ``None``: never); ``get`` and ``search`` with
``refresh_ttl=True`` (default ``refresh_on_read``, itself ``True`` by default) restart
the clock of the items they return. The item's TTL is kept as ``lg.ttl`` (minutes).
Unlike ``PostgresStore``, an expired item is gone for every read at once, not only after
a sweep. ``start_ttl_sweeper()`` deletes expired items every ``sweep_interval_minutes``
(default 5) in a background thread; the core's own maintenance also deletes them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

try:
    from langgraph.store.base import (
        BaseStore,
        GetOp,
        IndexConfig,
        ListNamespacesOp,
        Op,
        PutOp,
        Result,
        SearchItem,
        SearchOp,
        TTLConfig,
        ensure_embeddings,
        get_text_at_path,
        tokenize_path,
    )
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by the extras test
    raise ImportError(
        'AgentMemStore needs langgraph: pip install "agentmem-plugins[langgraph]"'
    ) from exc

from langchain_core.embeddings import Embeddings

from agentmem_plugins import AsyncMemory, Memory, MemoryItem
from agentmem_plugins.embeddings import make_embedder
from agentmem_plugins.loop_bridge import CoreRunner, as_runner

from ._store_mapping import (
    _and,
    _checked,
    _checked_ttl_config,
    _flatten,
    _is_ours,
    _matches,
    _owns,
    _placeholder_text,
    _refresh,
    _to_item,
    _to_refresh,
    _to_search_item,
    _value_filter,
)
from .embeddings import AgentMemEmbeddings, LangChainEmbedder

__all__ = ["AgentMemStore"]

log = logging.getLogger("langchain_agentmem")

_ID_SPACE = uuid.UUID("6f1c1d0e-8a4b-5d7e-9c2f-3b1a0e5d4c77")
_CORE_SPECS = ("hash", "fastembed")
_PAGE = 1000


class AgentMemStore(BaseStore):
    """LangGraph ``BaseStore`` on agentmem: durable, scoped, semantic search.

    Example::

        from langchain.agents import create_agent
        from langchain_agentmem import AgentMemStore

        store = AgentMemStore(path="./mem", index={"embed": "hash", "fields": ["text"]})
        store.put(("memories", "alice"), "tea", {"text": "Alice likes green tea"})
        store.search(("memories", "alice"), query="what does alice drink?")
        agent = create_agent(model, tools, store=store)

    Build a new memory at ``path=`` (plus any ``MemoryConfig`` field) or wrap one with
    ``memory=`` (an ``AsyncMemory`` or ``Memory``; its embedder is used and it is not
    closed by the store). ``index`` is LangGraph's: ``embed`` (LangChain ``Embeddings``,
    an embedding function, a ``"provider:model"`` string for ``init_embeddings``, or a
    core spec such as ``"hash"``), ``fields`` (paths into the value, default ``["$"]``:
    the whole value) and ``dims`` (checked against the embedder). Without ``index`` the
    store does no semantic search: a query is ignored, as in ``InMemoryStore``.
    ``ttl`` is LangGraph's ``TTLConfig`` (see the module doc); it sets ``supports_ttl``.
    """

    supports_ttl: bool = False

    def __init__(
        self,
        *,
        memory: AsyncMemory | Memory | None = None,
        path: str | Path | None = None,
        index: IndexConfig | None = None,
        agent_id: str = "langgraph",
        user_label: int | None = None,
        ttl: TTLConfig | None = None,
        **config: Any,
    ) -> None:
        if not isinstance(agent_id, str) or not agent_id.strip():
            raise ValueError(f"agent_id must be a non-empty str, got {agent_id!r}")
        if user_label is not None and (
            isinstance(user_label, bool) or not isinstance(user_label, int) or user_label < 0
        ):
            raise ValueError(f"user_label must be an int >= 0 or None, got {user_label!r}")
        if index is not None and not isinstance(index, Mapping):
            raise TypeError(f"index must be a dict (IndexConfig), got {type(index).__name__}")
        self.ttl_config: TTLConfig | None = _checked_ttl_config(ttl)
        self.supports_ttl = self.ttl_config is not None
        self._sweeper: threading.Thread | None = None
        self._sweeper_stop = threading.Event()
        self.agent_id = agent_id
        self.user_label = user_label
        self.index_config: dict[str, Any] | None = dict(index) if index else None
        if memory is not None:
            if path is not None or config:
                raise ValueError("path= and config fields apply only when memory= is not given")
            if self.index_config and self.index_config.get("embed") is not None:
                raise ValueError(
                    "index['embed'] applies only when the store builds its memory (path=); "
                    "a wrapped memory embeds with its own embedder"
                )
            self._runner: CoreRunner = as_runner(memory)
        else:
            build = dict(config)
            if path is not None:
                build["path"] = path
            build["embedder"] = self._embedder_for(self.index_config)
            self._runner = as_runner(None, **build)
        try:
            self._bind_index()
        except BaseException:
            self._runner.close()  # a memory built here must not outlive a bad config
            raise

    def _bind_index(self) -> None:
        embedder = self._runner.core.embedder
        self.embeddings: Embeddings | None = None
        self._fields: list[tuple[str, Any]] = []
        if self.index_config:
            if embedder is None:
                raise ValueError("index needs an embedder, and this memory has none")
            dims = self.index_config.get("dims")
            if dims is not None and dims != embedder.dim:
                raise ValueError(f"index['dims'] is {dims} but the embedder's is {embedder.dim}")
            self.embeddings = (
                embedder.embeddings
                if isinstance(embedder, LangChainEmbedder)
                else AgentMemEmbeddings(embedder)
            )
            fields = self.index_config.get("fields") or ["$"]
            self._fields = [(p, p if p == "$" else tokenize_path(p)) for p in fields]
        # items not indexed get a fixed unit vector: never searched by query, and the
        # core embeds nothing for them
        dim = embedder.dim if embedder is not None else 1
        self._placeholder = [1.0] + [0.0] * (dim - 1)

    @staticmethod
    def _embedder_for(index: dict[str, Any] | None) -> Any:
        if not index:
            return "none"
        embed = index.get("embed")
        if embed is None:
            raise ValueError("index needs 'embed': Embeddings, a function, or a model name")
        if isinstance(embed, str) and embed.split(":", 1)[0].strip().lower() in _CORE_SPECS:
            return make_embedder(embed)
        if isinstance(embed, AgentMemEmbeddings):
            return embed.embedder
        return LangChainEmbedder(ensure_embeddings(embed), dim=index.get("dims"))

    # --- plumbing ----------------------------------------------------------------------

    @property
    def memory(self) -> AsyncMemory | Memory:
        """The core memory behind this store."""
        return self._runner.memory

    def close(self) -> None:
        """Close the memory if this store built it; a wrapped memory stays open."""
        self.stop_ttl_sweeper()
        self._runner.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.stop_ttl_sweeper)
        await self._runner.aclose()

    # --- TTL sweeping (as PostgresStore) ---------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete expired items now (every expired memory of the core); how many."""
        return self._runner.run(lambda m: m.sweep_expired())

    async def asweep_ttl(self) -> int:
        return await self._runner.arun(lambda m: m.sweep_expired())

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep expired items every ``sweep_interval_minutes`` (default: the TTL config's
        ``sweep_interval_minutes``, else 5) in a daemon thread, until
        :meth:`stop_ttl_sweeper` or :meth:`close`. Cancelling the future stops it too."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        if not self.ttl_config:
            future.set_result(None)
            return future
        future.add_done_callback(lambda f: self._sweeper_stop.set() if f.cancelled() else None)
        if self._sweeper is not None and self._sweeper.is_alive():
            return future
        interval = float(
            sweep_interval_minutes or self.ttl_config.get("sweep_interval_minutes") or 5
        )
        if interval <= 0:
            raise ValueError(f"sweep_interval_minutes must be positive, got {interval}")
        self._sweeper_stop.clear()

        def loop() -> None:
            while not self._sweeper_stop.wait(interval * 60):
                try:
                    swept = self.sweep_ttl()
                    if swept:
                        log.info("swept %d expired store items", swept)
                except Exception:  # the next round tries again
                    log.exception("store TTL sweep failed")
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_result(None)

        self._sweeper = threading.Thread(target=loop, name="agentmem-ttl-sweeper", daemon=True)
        self._sweeper.start()
        return future

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; ``False`` if it did not stop within ``timeout``."""
        if self._sweeper is None or not self._sweeper.is_alive():
            return True
        self._sweeper_stop.set()
        self._sweeper.join(timeout)
        if self._sweeper.is_alive():
            return False
        self._sweeper = None
        return True

    def __enter__(self) -> AgentMemStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        ops = _checked(ops, ttl=self.supports_ttl)
        return self._runner.run(lambda m: self._execute(m, ops))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        ops = _checked(ops, ttl=self.supports_ttl)
        return await self._runner.arun(lambda m: self._execute(m, ops))

    # --- mapping -----------------------------------------------------------------------

    def _scope(self, namespace: Sequence[str]) -> dict[str, Any]:
        scope = {"agent_id": self.agent_id}
        if self.user_label is not None and len(namespace) > self.user_label:
            scope["user_id"] = namespace[self.user_label]
        return scope

    def _id(self, namespace: tuple[str, ...], key: str) -> str:
        return str(uuid.uuid5(_ID_SPACE, json.dumps([self.agent_id, list(namespace), key])))

    def _text(self, op: PutOp, value: dict[str, Any], limit: int) -> str | None:
        if not self._fields or op.index is False:
            return None
        paths = self._fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
        texts = [t for _, path in paths for t in get_text_at_path(value, path) if t.strip()]
        return "\n".join(texts)[:limit] if texts else None

    def _record(self, op: PutOp, limit: int) -> dict[str, Any]:
        value = dict(op.value or {})
        text = self._text(op, value, limit)
        ns = list(op.namespace)
        metadata: dict[str, Any] = {
            "lg.ns": ns,
            **{f"lg.ns.{i}": label for i, label in enumerate(ns)},
            "lg.depth": len(ns),
            "lg.key": op.key,
            "lg.indexed": text is not None,
            "lg.value": value,
        }
        if op.ttl is not None:
            metadata["lg.ttl"] = float(op.ttl)
        _flatten(value, "", metadata)
        record: dict[str, Any] = {
            "id": self._id(op.namespace, op.key),
            "text": text if text is not None else _placeholder_text(op)[:limit],
            "metadata": metadata,
            **self._scope(op.namespace),
        }
        if op.ttl is not None:
            record["ttl"] = timedelta(minutes=float(op.ttl))
        if text is None:
            record["vector"] = self._placeholder
        return record

    def _ns_filter(self, prefix: Sequence[str]) -> list[dict[str, Any]]:
        # lg.depth >= n also keeps out memories this store did not write (no lg.depth)
        parts: list[dict[str, Any]] = [{f"lg.ns.{i}": label} for i, label in enumerate(prefix)]
        return [*parts, {"lg.depth": {"gte": len(prefix)}}]

    # --- execution (on the memory's loop) ------------------------------------------------

    async def _execute(self, m: AsyncMemory, ops: list[Op]) -> list[Result]:
        results: list[Result] = [None] * len(ops)
        refresh: dict[str, float] = {}  # memory id -> its TTL in minutes
        gets = [(i, op) for i, op in enumerate(ops) if isinstance(op, GetOp)]
        if gets:
            ids = [self._id(op.namespace, op.key) for _, op in gets]
            found = {item.id: item for item in await m.get_many(ids)}
            for (i, get), memory_id in zip(gets, ids, strict=True):
                item = found.get(memory_id)
                if item is not None and _owns(item, get.namespace, get.key):
                    results[i] = _to_item(item)
                    if get.refresh_ttl:
                        _to_refresh(item, refresh)
        for i, op in enumerate(ops):
            if isinstance(op, SearchOp):
                results[i] = await self._search(m, op, refresh)
            elif isinstance(op, ListNamespacesOp):
                results[i] = await self._list_namespaces(m, op)
        if refresh and self.supports_ttl:
            await _refresh(m, refresh)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            if isinstance(op, PutOp):
                puts[(op.namespace, op.key)] = op  # the last write to a key wins
        deletes = [self._id(ns, key) for (ns, key), op in puts.items() if op.value is None]
        limit = m.config.max_text_chars
        records = [self._record(op, limit) for op in puts.values() if op.value is not None]
        if deletes:
            await m.delete_many(deletes)
        if records:
            await m.add_many(records)
        return results

    async def _search(
        self, m: AsyncMemory, op: SearchOp, refresh: dict[str, float]
    ) -> list[SearchItem]:
        items = await self._search_items(m, op)
        if op.refresh_ttl:
            for item, _ in items:
                _to_refresh(item, refresh)
        return [_to_search_item(item, score) for item, score in items]

    async def _search_items(
        self, m: AsyncMemory, op: SearchOp
    ) -> list[tuple[MemoryItem, float | None]]:
        if op.limit <= 0:
            return []
        scope = self._scope(op.namespace_prefix)
        base = [*self._ns_filter(op.namespace_prefix), *_value_filter(op.filter)]
        if not (op.query and self.embeddings is not None):
            items = await m.get_all(**scope, filters=_and(base), limit=op.limit, offset=op.offset)
            return [(item, None) for item in items]
        hits = await m.search(
            op.query,
            **scope,
            filters=_and([*base, {"lg.indexed": True}]),
            limit=op.offset + op.limit,
        )
        found: list[tuple[MemoryItem, float | None]] = [(h, h.score) for h in hits[op.offset :]]
        if len(found) < op.limit:  # as InMemoryStore: unindexed items fill a short page
            rest = await m.get_all(
                **scope, filters=_and([*base, {"lg.indexed": False}]), limit=op.limit - len(found)
            )
            found.extend((item, None) for item in rest)
        return found

    async def _list_namespaces(self, m: AsyncMemory, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions = op.match_conditions or ()
        exact: list[dict[str, Any]] = [{"lg.depth": {"gte": 0}}]
        for cond in conditions:
            if cond.match_type == "prefix":
                exact += [{f"lg.ns.{i}": p} for i, p in enumerate(cond.path) if p != "*"]
        namespaces: set[tuple[str, ...]] = set()
        offset = 0
        while True:  # every namespace holding an item, one page of records at a time
            page = await m.get_all(
                agent_id=self.agent_id, filters=_and(exact), limit=_PAGE, offset=offset
            )
            namespaces.update(tuple(item.metadata["lg.ns"]) for item in page if _is_ours(item))
            if len(page) < _PAGE:
                break
            offset += _PAGE
        matched = [ns for ns in namespaces if all(_matches(c, ns) for c in conditions)]
        if op.max_depth is not None:
            result = sorted({ns[: op.max_depth] for ns in matched})
        else:
            result = sorted(matched)
        return result[op.offset : op.offset + op.limit]


# --- helpers (pure) ------------------------------------------------------------------------

"""``AsyncMemory``: the implementation behind every adapter and the sync facade."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np
from pydantic import ValidationError

from . import _expiry
from ._check import CheckReport
from ._config import MemoryConfig
from ._embedding_runner import EmbeddingRunner
from ._errors import ConfigError, InvalidInputError, NotFoundError, StoreClosedError
from ._expiry import Expiry, resolve_expiry
from ._filters import parse_filters
from ._messages import normalize_messages
from ._reads import ReadMethods
from ._search import Searcher
from ._store import Stores
from ._types import AddResult, MemoryInput, MemoryItem, PendingWork
from ._validation import (
    SCOPE_FIELDS,
    check_id,
    check_metadata,
    check_scope,
    check_text,
    check_vector,
)
from ._writer import Upsert, Writer, WriteRequest
from .embeddings import Embedder, make_embedder
from .llms import ChatModel

if TYPE_CHECKING:
    from .infer.pipeline import InferPipeline
from .rerankers import Reranker, make_reranker

__all__ = ["AsyncMemory"]

log = logging.getLogger("agentmem_plugins")
P = ParamSpec("P")
T = TypeVar("T")


class AsyncMemory(ReadMethods):
    """Long-term memory for agents: add, search, update, forget. Async-first.

    Example::

        async with AsyncMemory(path="./mem", embedder="hash") as memory:
            await memory.add("I live in Paris", user_id="alice")
            hits = await memory.search("where does alice live?", user_id="alice")
            print(hits[0].text, hits[0].score)

    Writes need a scope (``user_id``, ``agent_id`` and/or ``run_id``); reads stay inside
    the scope they are given. Concurrent ``add`` calls are coalesced into micro-batches:
    one embedding call and one write per store serve many callers, and each call returns
    once its memory is durable.
    """

    def __init__(
        self,
        config: MemoryConfig | None = None,
        /,
        *,
        embedder: Embedder | str | None = None,
        llm: ChatModel | None = None,
        **config_fields: Any,
    ) -> None:
        if embedder is not None:
            config_fields["embedder"] = embedder
        if llm is not None:
            config_fields["llm"] = llm
        self.config = MemoryConfig.build(config, **config_fields)
        #: the chat model of intelligent mode, or ``None`` (``add`` then stores text as given);
        #: checked before anything is opened, so a bad ``llm=`` leaves nothing behind
        self.llm: ChatModel | None = _resolve_llm(self.config)
        self.embedder: Embedder | None = make_embedder(self.config.embedder)
        #: the cross-encoder of ``search(rerank=True)``, or ``None``
        self.reranker: Reranker | None = make_reranker(self.config.reranker)
        self._io_pool = ThreadPoolExecutor(8, thread_name_prefix="agentmem-io")
        self._embed_pool = ThreadPoolExecutor(2, thread_name_prefix="agentmem-embed")
        try:
            self._stores = Stores(self.config, self.embedder)
        except BaseException:
            self._shutdown_pools()
            raise
        self._runner = EmbeddingRunner(self.embedder, self._embed_pool)
        self._writer = Writer(
            store=self._stores,
            runner=self._runner,
            io=self._io,
            max_rows=self.config.batch_max_size,
            max_wait_s=self.config.batch_max_wait_ms / 1000,
            maintain_every=self.config.compact_every_writes,
        )
        self._stores.records.on_expired = self._writer.request_sweep
        self._searcher = Searcher(
            self._stores,
            self._io,
            self.config.search_overfetch,
            self.config.exact_search_max_rows,
            self.config.scope_cache_mb * 2**20,
            fusion={
                "method": self.config.hybrid_fusion,
                "k": self.config.hybrid_rrf_k,
                "vector_weight": self.config.hybrid_vector_weight,
            },
        )
        self._infer: InferPipeline | None = None  # built on first use (intelligent mode)
        self._closed = False

    # --- plumbing ----------------------------------------------------------------------

    async def _io(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = self._writer.loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io_pool, functools.partial(fn, *args, **kwargs))

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this memory is closed; open a new one")

    def _shutdown_pools(self) -> None:
        self._io_pool.shutdown(wait=True)
        self._embed_pool.shutdown(wait=True)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # --- writes ------------------------------------------------------------------------

    async def add(
        self,
        messages: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool | None = None,
        wait: bool = True,
        observed_at: datetime | None = None,
        ttl: Expiry | None = None,
        expires_at: datetime | None = None,
    ) -> AddResult:
        """Remember ``messages`` (a str, a ``{"role", "content"}`` dict, or a list).

        ``infer=False`` stores each message's text as given; ``infer=True`` has the LLM
        extract facts and reconcile them with what is stored; ``None`` infers when an LLM
        is configured. ``wait=False`` (intelligent mode) hands the messages over and
        returns at once with a ``pending_id``; :meth:`flush` waits for them.

        ``ttl`` (seconds or a ``timedelta``) or ``expires_at`` (a datetime; naive means
        UTC) make the memories expire: from then on every read treats them as gone, and
        maintenance deletes them (``EXPIRE`` in their history). Without either,
        ``MemoryConfig.default_ttl`` applies.
        """
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=True)
        meta = check_metadata(metadata)
        msgs = normalize_messages(
            messages, max_chars=self.config.max_text_chars, observed_at=observed_at
        )
        expiry = resolve_expiry(ttl, expires_at, default=self.config.default_ttl)
        if self._should_infer(infer):
            if ttl is None and expires_at is None:
                return await self._pipeline().add(msgs, scope, meta, wait=wait)
            if not wait:
                raise InvalidInputError(
                    "ttl=/expires_at= in intelligent mode need wait=True (the expiry is set "
                    "on the memories the LLM's decisions write)"
                )
            result = await self._pipeline().add(msgs, scope, meta, wait=True)
            return await self._expire_written(result, expiry)
        upserts = [
            Upsert(
                text=m.content,
                scope=scope,
                metadata=meta,
                observed_at=m.observed_at,
                role=m.role,
                actor=m.name,
                expires_at=expiry,
            )
            for m in msgs
        ]
        return AddResult(results=await self._writer.submit(WriteRequest(upserts=upserts)))

    async def add_many(self, items: Iterable[MemoryInput | Mapping[str, Any]]) -> list[str]:
        """Batch mode: store many texts (or precomputed vectors) as given; ids in order.

        Every item is validated before anything is written. An item with an ``id`` is an
        idempotent upsert; a ``vector`` is stored as given instead of embedding the text.
        """
        self._check_open()
        upserts = [self._upsert_from(i, item) for i, item in enumerate(items)]
        seen: set[str] = set()
        for i, u in enumerate(upserts):
            if u.id is not None:
                if u.id in seen:
                    raise InvalidInputError(f"items[{i}].id {u.id!r} appears twice in one call")
                seen.add(u.id)
        size = max(self.config.batch_max_size, 1)
        requests = [
            WriteRequest(upserts=upserts[s : s + size]) for s in range(0, len(upserts), size)
        ]
        results = await asyncio.gather(*(self._writer.submit(r) for r in requests))
        return [e.id for events in results for e in events]

    async def _expire_written(self, result: AddResult, expiry: datetime | None) -> AddResult:
        """Set ``expiry`` on the memories an intelligent-mode add wrote or changed."""
        written = [e.id for e in result.results if e.event in ("ADD", "UPDATE")]
        if written:
            request = WriteRequest(expiries=[(i, expiry) for i in dict.fromkeys(written)])
            await self._writer.submit(request)
        return result

    def _upsert_from(self, index: int, item: MemoryInput | Mapping[str, Any]) -> Upsert:
        where = f"items[{index}]"
        if isinstance(item, Mapping):
            try:
                item = MemoryInput.model_validate(dict(item))
            except ValidationError as exc:
                problem = exc.errors()[0]
                field = ".".join(map(str, problem["loc"]))
                raise InvalidInputError(f"{where}.{field}: {problem['msg']}") from None
        elif not isinstance(item, MemoryInput):
            raise InvalidInputError(
                f"{where} must be a dict or MemoryInput, got {type(item).__name__}"
            )
        text = check_text(item.text, max_chars=self.config.max_text_chars, field=f"{where}.text")
        vector = None
        if item.vector is not None:
            vector = check_vector(item.vector, dim=self._stores.dim, field=f"{where}.vector")
        elif self.embedder is None:
            raise InvalidInputError(
                f"{where}.vector is required: this store has no embedder (embedder='none')"
            )
        return Upsert(
            text=text,
            scope=check_scope(item.user_id, item.agent_id, item.run_id, required=True),
            metadata=check_metadata(item.metadata, field=f"{where}.metadata"),
            vector=vector,
            id=check_id(item.id, field=f"{where}.id") if item.id is not None else None,
            expires_at=resolve_expiry(
                item.ttl,
                item.expires_at,
                default=self.config.default_ttl,
                field=f"{where}.",
            ),
        )

    async def update(
        self,
        memory_id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        vector: Sequence[float] | None = None,
        ttl: Expiry | None = None,
        expires_at: datetime | None = None,
    ) -> MemoryItem:
        """Change a memory's text (re-embedded), metadata (replaced) and/or vector.

        ``ttl=``/``expires_at=`` set a new expiry (counted from now); without them the
        memory keeps the one it has. Changing only the expiry is a SQL-only write.
        """
        self._check_open()
        check_id(memory_id)
        content = not (text is None and metadata is None and vector is None)
        if not content and ttl is None and expires_at is None:
            raise InvalidInputError("update needs text=, metadata=, vector=, ttl= or expires_at=")
        now = _expiry.utc_now()
        new_expiry = resolve_expiry(ttl, expires_at, now=now)
        if not content:
            await self._writer.submit(WriteRequest(expiries=[(memory_id, new_expiry)]))
            return await self.get(memory_id)
        rows = await self._io(self._stores.records.full_rows, [memory_id])
        if not rows or _expiry.has_expired(rows[0]["expires_at"], now):
            raise NotFoundError(f"no memory with id {memory_id!r}")
        old = rows[0]
        new_text = (
            old["text"] if text is None else check_text(text, max_chars=self.config.max_text_chars)
        )
        if vector is not None:
            new_vector = check_vector(vector, dim=self._stores.dim)
        elif new_text == old["text"]:
            new_vector = np.frombuffer(old["vector"], dtype=np.float32)
        else:
            new_vector = None
            if self.embedder is None:
                raise InvalidInputError("this store has no embedder: pass vector= with new text")
        upsert = Upsert(
            text=new_text,
            scope={k: old[k] for k in SCOPE_FIELDS if old[k] is not None},
            metadata=old["metadata"] if metadata is None else check_metadata(metadata),
            vector=new_vector,
            id=memory_id,
            must_exist=True,
            observed_at=old["observed_at"],
            expires_at=old["expires_at"] if new_expiry is None else new_expiry,
        )
        await self._writer.submit(WriteRequest(upserts=[upsert]))
        return await self.get(memory_id)

    async def delete(self, memory_id: str) -> None:
        """Forget one memory (its history stays); ``NotFoundError`` if unknown."""
        self._check_open()
        await self._writer.submit(WriteRequest(deletes=[check_id(memory_id)]))

    async def delete_many(
        self,
        ids: Iterable[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> int:
        """Forget these memories; unknown ids (and, with a scope, ids of other scopes) are
        skipped. Returns how many were deleted."""
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=False)
        checked = list(dict.fromkeys(check_id(i, field="ids[]") for i in ids))
        if scope:  # ids never change scope, so this check cannot go stale
            found = await self._io(self._stores.records.fetch, checked, scope=scope)
            checked = [i for i in checked if i in found]
        deleted = 0
        for start in range(0, len(checked), 4096):
            request = WriteRequest(deletes=checked[start : start + 4096], delete_missing_ok=True)
            deleted += len(await self._writer.submit(request))
        return deleted

    async def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> int:
        """Forget every memory of a scope (optionally only those matching ``filters``)."""
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=True)
        flt = parse_filters(filters)
        ids = await self._io(self._stores.records.ids, scope, flt)
        return await self.delete_many(ids)

    async def sweep_expired(self) -> int:
        """Delete every memory that has expired, now (maintenance also does this from time
        to time); each gets an ``EXPIRE`` history event. Returns how many."""
        self._check_open()
        return await self._writer.sweep_expired()

    async def reset(self) -> None:
        """Drop every memory, history event and pending item of this store."""
        self._check_open()
        await self._writer.drain()
        await self._writer.wait_maintenance()
        async with self._writer.lock:
            await self._io(self._stores.reset)

    async def check(self, *, repair: bool = False) -> CheckReport:
        """Compare the vector index with SQL (the truth): missing, extra, duplicate and
        stale rows. ``repair=True`` rebuilds them from SQL. Rows that another live process
        is writing right now are counted in ``in_flight``, not reported or touched."""
        self._check_open()
        await self._writer.drain()
        await self._writer.wait_maintenance()
        async with self._writer.lock:
            report: CheckReport = await self._io(self._stores.check, repair=repair)
        return report

    # --- intelligent mode --------------------------------------------------------------

    def _should_infer(self, infer: bool | None) -> bool:
        if infer is False:
            return False
        has_llm = self.llm is not None
        if infer is True and not has_llm:
            raise ConfigError(
                "infer=True needs an LLM: pass llm= (a ChatModel), or set llm_base_url and "
                "llm_model in MemoryConfig (or AGENTMEM_LLM_BASE_URL / AGENTMEM_LLM_MODEL)"
            )
        return has_llm

    def _pipeline(self) -> InferPipeline:
        if self._infer is None:
            from .infer.pipeline import InferPipeline

            self._infer = InferPipeline(
                config=self.config,
                llm=self.llm,
                stores=self._stores,
                writer=self._writer,
                searcher=self._searcher,
                runner=self._runner,
                io=self._io,
            )
        return self._infer

    async def pending(self) -> list[PendingWork]:
        """Input whose LLM processing failed after retries (or is still queued)."""
        self._check_open()
        return await self._pipeline().pending()

    async def retry_pending(self) -> list[AddResult]:
        """Replay every pending item through intelligent mode."""
        self._check_open()
        return await self._pipeline().retry_pending()

    # --- lifecycle ---------------------------------------------------------------------

    async def flush(self) -> None:
        """Wait for every write and every handed-over (``wait=False``) message."""
        if self._infer is not None:
            await self._infer.drain()
        await self._writer.drain()

    async def close(self) -> None:
        """Flush, then close both stores. Safe to call twice."""
        if self._closed:
            return
        try:
            await self.flush()
            if self._infer is not None:
                await self._infer.close()
            await self._writer.close()
        finally:
            self._closed = True
            await self._io(self._stores.close)
            self._shutdown_pools()


def _resolve_llm(config: MemoryConfig) -> ChatModel | None:
    if config.llm is not None:
        if not callable(getattr(config.llm, "complete", None)):
            raise ConfigError(
                "llm must be a ChatModel (an object with async complete(messages, json_mode=)); "
                "wrap LangChain/LlamaIndex models with the bridges in langchain_agentmem / "
                "llama_index.memory.agentmem"
            )
        llm: ChatModel = config.llm
        return llm
    if config.llm_base_url and config.llm_model:
        from .llms import OpenAIChatModel

        return OpenAIChatModel.from_config(config)
    return None

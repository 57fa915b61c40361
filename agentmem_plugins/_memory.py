"""``AsyncMemory``: the implementation behind every adapter and the sync facade."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ._check import CheckReport
from ._config import MemoryConfig
from ._embedding_runner import EmbeddingRunner
from ._errors import ConfigError, StoreClosedError
from ._gc import freeze_once
from ._reads import ReadMethods
from ._search import Searcher
from ._store import Stores
from ._types import AddResult, PendingWork
from ._writer import Writer
from ._writes import WriteMethods
from .embeddings import Embedder, make_embedder
from .llms import ChatModel

if TYPE_CHECKING:
    from .infer.pipeline import InferPipeline
from .rerankers import Reranker, make_reranker

__all__ = ["AsyncMemory"]

log = logging.getLogger("agentmem_plugins")
P = ParamSpec("P")
T = TypeVar("T")


class AsyncMemory(ReadMethods, WriteMethods):
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
        self._io_pool = ThreadPoolExecutor(self.config.io_threads, thread_name_prefix="agentmem-io")
        self._embed_pool = ThreadPoolExecutor(2, thread_name_prefix="agentmem-embed")
        # index upkeep may wait seconds on a build: on a thread of its own, it never
        # takes one of the io_threads the reads and writes share
        self._upkeep_pool = ThreadPoolExecutor(1, thread_name_prefix="agentmem-upkeep")
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
            upkeep_io=self._upkeep_io,
            max_rows=self.config.batch_max_size,
            max_wait_s=self.config.batch_max_wait_ms / 1000,
            maintain_every=self.config.compact_every_writes,
        )
        self._stores.records.on_expired = self._writer.upkeep.request_sweep
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
        if self.config.gc_freeze:
            freeze_once()

    # --- plumbing ----------------------------------------------------------------------

    async def _io(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        self._writer.upkeep.loop = asyncio.get_running_loop()
        return await _run_in(self._io_pool, fn, *args, **kwargs)

    async def _upkeep_io(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await _run_in(self._upkeep_pool, fn, *args, **kwargs)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this memory is closed; open a new one")

    def _shutdown_pools(self) -> None:
        self._io_pool.shutdown(wait=True)
        self._embed_pool.shutdown(wait=True)
        self._upkeep_pool.shutdown(wait=True)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # --- maintenance -------------------------------------------------------------------

    async def sweep_expired(self) -> int:
        """Delete every memory that has expired, now (maintenance also does this from time
        to time); each gets an ``EXPIRE`` history event. Returns how many."""
        self._check_open()
        return await self._writer.upkeep.sweep_expired()

    async def reset(self) -> None:
        """Drop every memory, history event and pending item of this store."""
        self._check_open()
        await self._writer.drain()
        await self._writer.upkeep.wait()
        async with self._writer.lock:
            await self._io(self._stores.reset)

    async def check(self, *, repair: bool = False) -> CheckReport:
        """Compare the vector index with SQL (the truth): missing, extra, duplicate and
        stale rows. ``repair=True`` rebuilds them from SQL. Rows that another live process
        is writing right now are counted in ``in_flight``, not reported or touched."""
        self._check_open()
        await self._writer.drain()
        await self._writer.upkeep.wait()
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
        """Replay through intelligent mode every pending item that no other live process
        holds: parked items, and those a crashed process had taken. Each is claimed
        first, so two processes never replay the same item."""
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


async def _run_in(
    pool: ThreadPoolExecutor, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs))

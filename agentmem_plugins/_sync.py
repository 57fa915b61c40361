"""``Memory``: the thin synchronous facade over :class:`AsyncMemory`.

Every method runs the async implementation on a private event loop in a daemon thread,
so it works the same in a script, a thread pool, or a Jupyter cell whose own loop is
already running (where ``asyncio.run`` would fail). There is no second implementation:
each method below is a typed one-line delegation to its async twin, written out with
the same signature and docstring so that IDEs and mypy see every parameter and result
(``tests/core/test_sync_facade.py`` fails if the two classes drift apart).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import sys
import threading
import weakref
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

from ._check import CheckReport
from ._config import MemoryConfig
from ._expiry import Expiry
from ._memory import AsyncMemory
from ._types import AddResult, HistoryEvent, MemoryInput, MemoryItem, PendingWork, SearchMode
from .embeddings import Embedder
from .llms import ChatModel

__all__ = ["Memory"]

T = TypeVar("T")


class _LoopThread:
    """An event loop running in its own daemon thread; ``call`` blocks on a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="agentmem-loop", daemon=True
        )
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("Memory's sync methods cannot be called from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


_OPEN: weakref.WeakSet[Memory] = weakref.WeakSet()


def _close_open_memories() -> None:
    """At interpreter exit, flush and close every Memory the program left open.

    Registered with ``threading``'s exit hooks, which run before the thread pools are
    shut down and while our loop thread still runs; a ``__del__`` during finalisation
    could not run the loop any more and would wait forever.
    """
    for memory in list(_OPEN):
        with contextlib.suppress(Exception):
            memory.close()


_register = getattr(threading, "_register_atexit", None)
(_register or atexit.register)(_close_open_memories)


class Memory:
    """Synchronous long-term memory for agents (same methods as :class:`AsyncMemory`).

    Example::

        from agentmem_plugins import Memory

        with Memory(path="./mem", embedder="hash") as memory:
            memory.add("I live in Paris", user_id="alice")
            for hit in memory.search("where does alice live?", user_id="alice"):
                print(f"{hit.score:.3f}  {hit.text}")
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
        self._loop = _LoopThread()

        async def build() -> AsyncMemory:
            return AsyncMemory(config, embedder=embedder, llm=llm, **config_fields)

        try:
            self._async = self._loop.call(build())
        except BaseException:
            self._loop.stop()
            raise
        _OPEN.add(self)

    @property
    def async_memory(self) -> AsyncMemory:
        """The :class:`AsyncMemory` behind this facade (share it with async code)."""
        return self._async

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The private event loop the async memory runs on: adapters schedule its
        coroutines there (``asyncio.run_coroutine_threadsafe``) to await them from another
        loop without blocking a thread."""
        return self._loop.loop

    @property
    def config(self) -> MemoryConfig:
        return self._async.config

    @property
    def embedder(self) -> Embedder | None:
        return self._async.embedder

    @property
    def llm(self) -> ChatModel | None:
        return self._async.llm

    # --- one typed delegation per AsyncMemory method (tests/core/test_sync_facade.py) ---

    def add(
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
        return self._loop.call(
            self._async.add(
                messages,
                user_id=user_id,
                agent_id=agent_id,
                run_id=run_id,
                metadata=metadata,
                infer=infer,
                wait=wait,
                observed_at=observed_at,
                ttl=ttl,
                expires_at=expires_at,
            )
        )

    def add_many(self, items: Iterable[MemoryInput | Mapping[str, Any]]) -> list[str]:
        """Batch mode: store many texts (or precomputed vectors) as given; ids in order.

        Every item is validated before anything is written. An item with an ``id`` is an
        idempotent upsert; a ``vector`` is stored as given instead of embedding the text.
        """
        return self._loop.call(self._async.add_many(items))

    def search(
        self,
        query: str | None = None,
        *,
        vector: Sequence[float] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 10,
        threshold: float | None = None,
        mode: SearchMode = "vector",
        include_invalidated: bool = False,
        as_of: datetime | None = None,
        all_scopes: bool = False,
        rerank: bool | None = None,
    ) -> list[MemoryItem]:
        """The memories most relevant to ``query`` (or ``vector``), best first, scored.

        ``mode``: ``"vector"`` (meaning: paraphrases, questions worded unlike the memory),
        ``"fulltext"`` (BM25 over stemmed words: exact names, codes, rare terms),
        ``"hybrid"`` (both, fused). The default, ``"vector"``, measured best with a real
        embedding model (BENCHMARKS.md, retrieval quality); with the word-hashing ``hash``
        embedder ``"hybrid"`` finds more.

        ``rerank=True`` (default: the config's ``rerank``) fetches the top
        ``rerank_candidates`` with ``mode`` and re-scores them with the configured
        cross-encoder (``reranker=``); scores are then the reranker's.
        """
        return self._loop.call(
            self._async.search(
                query,
                vector=vector,
                user_id=user_id,
                agent_id=agent_id,
                run_id=run_id,
                filters=filters,
                limit=limit,
                threshold=threshold,
                mode=mode,
                include_invalidated=include_invalidated,
                as_of=as_of,
                all_scopes=all_scopes,
                rerank=rerank,
            )
        )

    def get(self, memory_id: str) -> MemoryItem:
        """One memory by id; ``NotFoundError`` if unknown."""
        return self._loop.call(self._async.get(memory_id))

    def get_many(
        self,
        ids: Iterable[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[MemoryItem]:
        """The memories of those ``ids`` that exist (and belong to the scope, if one is
        given), in the order given."""
        return self._loop.call(
            self._async.get_many(ids, user_id=user_id, agent_id=agent_id, run_id=run_id)
        )

    def get_vectors(
        self,
        ids: Iterable[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> dict[str, np.ndarray]:
        """The stored vectors of those ``ids`` that exist (in the scope, if one is given),
        e.g. for max-marginal-relevance re-ranking without re-embedding."""
        return self._loop.call(
            self._async.get_vectors(ids, user_id=user_id, agent_id=agent_id, run_id=run_id)
        )

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int | None = 100,
        offset: int = 0,
        include_invalidated: bool = False,
        all_scopes: bool = False,
    ) -> list[MemoryItem]:
        """Memories of a scope, oldest first (stable for paging with ``offset``)."""
        return self._loop.call(
            self._async.get_all(
                user_id=user_id,
                agent_id=agent_id,
                run_id=run_id,
                filters=filters,
                limit=limit,
                offset=offset,
                include_invalidated=include_invalidated,
                all_scopes=all_scopes,
            )
        )

    def update(
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
        return self._loop.call(
            self._async.update(
                memory_id,
                text=text,
                metadata=metadata,
                vector=vector,
                ttl=ttl,
                expires_at=expires_at,
            )
        )

    def delete(self, memory_id: str) -> None:
        """Forget one memory (its history stays); ``NotFoundError`` if unknown."""
        return self._loop.call(self._async.delete(memory_id))

    def delete_many(
        self,
        ids: Iterable[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> int:
        """Forget these memories; unknown ids (and, with a scope, ids of other scopes) are
        skipped. Returns how many were deleted."""
        return self._loop.call(
            self._async.delete_many(ids, user_id=user_id, agent_id=agent_id, run_id=run_id)
        )

    def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> int:
        """Forget every memory of a scope (optionally only those matching ``filters``)."""
        return self._loop.call(
            self._async.delete_all(
                user_id=user_id, agent_id=agent_id, run_id=run_id, filters=filters
            )
        )

    def count(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        include_invalidated: bool = False,
        all_scopes: bool = False,
    ) -> int:
        """How many memories a scope holds (matching ``filters``)."""
        return self._loop.call(
            self._async.count(
                user_id=user_id,
                agent_id=agent_id,
                run_id=run_id,
                filters=filters,
                include_invalidated=include_invalidated,
                all_scopes=all_scopes,
            )
        )

    def history(self, memory_id: str) -> list[HistoryEvent]:
        """Every add/update/invalidate/delete event of a memory, oldest first."""
        return self._loop.call(self._async.history(memory_id))

    def sweep_expired(self) -> int:
        """Delete every memory that has expired, now (maintenance also does this from time
        to time); each gets an ``EXPIRE`` history event. Returns how many."""
        return self._loop.call(self._async.sweep_expired())

    def reset(self) -> None:
        """Drop every memory, history event and pending item of this store."""
        return self._loop.call(self._async.reset())

    def pending(self) -> list[PendingWork]:
        """Input whose LLM processing failed after retries (or is still queued)."""
        return self._loop.call(self._async.pending())

    def retry_pending(self) -> list[AddResult]:
        """Replay through intelligent mode every pending item that no other live process
        holds: parked items, and those a crashed process had taken. Each is claimed
        first, so two processes never replay the same item."""
        return self._loop.call(self._async.retry_pending())

    def flush(self) -> None:
        """Wait for every write and every handed-over (``wait=False``) message."""
        return self._loop.call(self._async.flush())

    def check(self, *, repair: bool = False) -> CheckReport:
        """Compare the vector index with SQL (the truth): missing, extra, duplicate and
        stale rows. ``repair=True`` rebuilds them from SQL. Rows that another live process
        is writing right now are counted in ``in_flight``, not reported or touched."""
        return self._loop.call(self._async.check(repair=repair))

    def close(self) -> None:
        """Flush and close the store, then stop the private loop. Safe to call twice."""
        if self._loop.loop.is_closed():
            return
        _OPEN.discard(self)
        try:
            self._loop.call(self._async.close())
        finally:
            self._loop.stop()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() explicitly
        loop = getattr(self, "_loop", None)
        if sys.is_finalizing():  # the exit hook above already closed it
            return
        if loop is not None and not loop.loop.is_closed():
            with contextlib.suppress(Exception):
                self.close()

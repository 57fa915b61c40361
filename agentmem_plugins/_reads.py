"""The read half of :class:`~agentmem_plugins.AsyncMemory`: search, get, list, count, history.

A mixin so each half of the API stays a file one can read in one sitting; it holds no
state of its own and relies on the attributes ``AsyncMemory.__init__`` sets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np

from ._config import MemoryConfig
from ._embedding_runner import EmbeddingRunner
from ._errors import InvalidInputError, NotFoundError
from ._filters import parse_filters
from ._messages import naive_utc
from ._search import Searcher
from ._store import Stores
from ._types import HistoryEvent, MemoryItem, SearchMode
from ._validation import check_id, check_scope, check_text, check_vector
from .rerankers import Reranker

__all__ = ["ReadMethods"]

P = ParamSpec("P")
T = TypeVar("T")
_MODES = ("vector", "fulltext", "hybrid")
_MAX_LIMIT = 10_000


class ReadMethods:
    config: MemoryConfig
    _stores: Stores
    _searcher: Searcher
    _runner: EmbeddingRunner
    reranker: Reranker | None
    _check_open: Callable[[], None]
    if TYPE_CHECKING:  # AsyncMemory's, typed as the other collaborators see it

        async def _io(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...

    async def search(
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
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=not all_scopes)
        flt = parse_filters(filters)
        _check_limit(limit)
        if mode not in _MODES:
            raise InvalidInputError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, (int, float))
        ):
            raise InvalidInputError(f"threshold must be a number or None, got {threshold!r}")
        if query is not None:
            query = check_text(query, max_chars=self.config.max_text_chars, field="query")
        elif vector is None or mode == "fulltext":
            raise InvalidInputError(f"search(mode={mode!r}) needs a query string")
        post = {"include_invalidated": include_invalidated, "as_of": naive_utc(as_of, "as_of")}
        reranker = self._reranker_for(rerank, query)
        wanted, limit = limit, max(limit, self.config.rerank_candidates) if reranker else limit
        if mode == "fulltext":
            assert query is not None
            hits = await self._searcher.fulltext(query, scope, flt, limit, **post)
        else:
            qvec: np.ndarray | Callable[[], np.ndarray]
            if vector is not None:
                qvec = check_vector(vector, dim=self._stores.space.dim)
            else:
                assert query is not None
                if self._runner.blocking:  # embedded in the search's worker thread
                    qvec = functools.partial(self._runner.query_now, query)
                else:
                    qvec = await self._runner.query(query)
            if mode == "vector":
                hits = await self._searcher.vector(qvec, scope, flt, limit, **post)
            else:
                hits = await self._searcher.hybrid(query, qvec, scope, flt, limit, **post)
        if reranker is not None and hits:
            assert query is not None
            scores = await self._runner.rerank(reranker, query, [h.text for h in hits])
            order = sorted(range(len(hits)), key=lambda i: scores[i], reverse=True)[:wanted]
            hits = [hits[i].model_copy(update={"score": scores[i]}) for i in order]
        if threshold is not None:
            hits = [h for h in hits if h.score is not None and h.score >= threshold]
        return hits

    def _reranker_for(self, rerank: bool | None, query: str | None) -> Reranker | None:
        if not (self.config.rerank if rerank is None else rerank):
            return None
        if self.reranker is None:
            raise InvalidInputError(
                "rerank=True needs a reranker: open the store with reranker='fastembed' "
                "(or 'fastembed:<model or folder>', or a Reranker object)"
            )
        if query is None:
            raise InvalidInputError("rerank=True needs a query string (vectors cannot be reranked)")
        return self.reranker

    async def get(self, memory_id: str) -> MemoryItem:
        """One memory by id; ``NotFoundError`` if unknown."""
        self._check_open()
        found = await self._io(self._stores.records.fetch, [check_id(memory_id)])
        if memory_id not in found:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return found[memory_id]

    async def get_many(
        self,
        ids: Iterable[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[MemoryItem]:
        """The memories of those ``ids`` that exist (and belong to the scope, if one is
        given), in the order given."""
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=False)
        wanted = [check_id(i, field="ids[]") for i in ids]
        found = await self._io(self._stores.records.fetch, wanted, scope=scope)
        return [found[i] for i in wanted if i in found]

    async def get_vectors(
        self,
        ids: Iterable[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> dict[str, np.ndarray]:
        """The stored vectors of those ``ids`` that exist (in the scope, if one is given),
        e.g. for max-marginal-relevance re-ranking without re-embedding."""
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=False)
        wanted = [check_id(i, field="ids[]") for i in ids]
        return await self._io(self._stores.records.vectors_of, wanted, scope)

    async def get_all(
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
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=not all_scopes)
        flt = parse_filters(filters)
        if limit is not None:
            _check_limit(limit, maximum=None)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidInputError(f"offset must be an int >= 0, got {offset!r}")
        return await self._io(
            self._stores.records.list,
            scope,
            flt,
            limit=limit,
            offset=offset,
            include_invalidated=include_invalidated,
        )

    async def count(
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
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=not all_scopes)
        return await self._io(
            self._stores.records.count,
            scope,
            parse_filters(filters),
            include_invalidated=include_invalidated,
        )

    async def history(self, memory_id: str) -> list[HistoryEvent]:
        """Every add/update/invalidate/delete event of a memory, oldest first."""
        self._check_open()
        events = await self._io(self._stores.records.history, check_id(memory_id))
        if not events:
            raise NotFoundError(f"no memory and no history with id {memory_id!r}")
        return events


def _check_limit(limit: Any, *, maximum: int | None = _MAX_LIMIT) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"limit must be an int >= 1, got {limit!r}")
    if maximum is not None and limit > maximum:
        raise InvalidInputError(f"limit must be at most {maximum:,}, got {limit:,}")

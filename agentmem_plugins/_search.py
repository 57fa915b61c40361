"""The read path: vector, full-text and hybrid search with scope and metadata filters.

Scopes of at most ``exact_search_max_rows`` matching rows are scored exactly from SQL (their
vectors kept in memory between searches until anything is written, see ``_scope_cache``). Otherwise
the vector index prefilters by scope; everything else (metadata filters, invalidated
memories, ``as_of``) is checked against SQL, the source of truth, on the candidates.
Candidates are over-fetched and the fetch widened until enough survive, so a filter
never silently shortens the result. A selective filter (few matching rows) is answered
exactly instead: the matching vectors come from SQL and are scored with one matmul.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from . import _expiry
from ._filters import Filter
from ._fusion import fuse
from ._io import IO
from ._scope_cache import ScopeCache, ScopeVectors
from ._scope_cache import unit_rows as _unit
from ._store import Stores
from ._types import MemoryItem
from .storage import PgVectorIndex

__all__ = ["Searcher"]

#: a round's candidates: ``(id, score)`` of the ``n`` best, and (where the backend reads
#: them with their vectors) their records' columns put in the dict by id
#: (:meth:`VectorIndex.search_vector`)
Fetch = Callable[[int, dict[str, dict[str, Any]]], list[tuple[str, float]]]

EXACT_MAX_ROWS = 4096
CACHE_BYTES = 256 * 2**20


def _plain(flt: Filter | None, post: dict[str, Any]) -> bool:
    """A search whose matching rows may be cached: no filter, valid memories now."""
    return flt is None and not any(
        post.get(o) for o in ("include_invalidated", "as_of", "live_after")
    )


def _fetch_post(post: dict[str, Any]) -> dict[str, Any]:
    """Search-time options as ``RecordStore.fetch`` takes them (it includes invalidated
    memories unless told otherwise; search does not)."""
    return {
        "include_invalidated": post.get("include_invalidated", False),
        "as_of": post.get("as_of"),
        "live_after": post.get("live_after"),
    }


class Searcher:
    def __init__(
        self,
        stores: Stores,
        io: IO,
        overfetch: int,
        exact_max_rows: int = EXACT_MAX_ROWS,
        cache_bytes: int = CACHE_BYTES,
        fusion: dict[str, Any] | None = None,
    ) -> None:
        self._stores = stores
        self._cache = ScopeCache(stores.records.data_version, cache_bytes)
        self._io = io
        self._overfetch = overfetch
        self._exact_max = exact_max_rows
        self._fusion = dict(fusion or {})  # keyword arguments of _fusion.fuse

    async def vector(
        self,
        vector: np.ndarray | Callable[[], np.ndarray],
        scope: dict[str, str],
        flt: Filter | None,
        k: int,
        **post: Any,
    ) -> list[MemoryItem]:
        """The ``k`` nearest. ``vector`` may be a blocking function that computes it (a
        query embedding): it then runs in the first round's worker thread, one thread hop
        fewer per search."""
        known: list[np.ndarray] = [] if callable(vector) else [vector]

        def query() -> np.ndarray:
            if not known:
                known.append(vector())  # type: ignore[operator]
            return known[0]

        atomic = self._stores.atomic
        exact: list[bool] = []  # set by first(): pgvector scores the whole (small) scope

        def fetch(n: int, rows: dict[str, dict[str, Any]]) -> list[tuple[str, float]]:
            if exact:
                assert atomic is not None
                return atomic.search_vector(query(), scope, n, rows=rows, exact=True)
            return self._stores.vectors.search_vector(query(), scope, n, rows=rows)

        def first(n: int) -> tuple[list[MemoryItem], bool]:
            # Few matching rows (a selective filter, or simply a small scope such as one
            # user's memories): exact scoring beats an index probe. Else the index's
            # first round, in the same worker-thread call. The exact scoring reads the
            # vectors from SQL; with everything in PostgreSQL pgvector scores a small
            # scope itself, in rounds checked and widened as the index's are.
            if atomic is not None and flt is None:
                if self._small(scope, flt, post, self._exact_max):
                    exact.append(True)
                return self._round(fetch, n, scope, flt, k, post)
            hits = self._exact_in_thread(query(), scope, flt, k, self._exact_max, **post)
            if hits is not None:
                return hits, True
            return self._round(fetch, n, scope, flt, k, post)

        return await self._widen(fetch, scope, flt, k, first=first, **post)

    async def vector_many(
        self,
        vectors: np.ndarray,
        scope: dict[str, str],
        k: int,
        *,
        live_after: datetime | None = None,
    ) -> list[list[MemoryItem]]:
        """The ``k`` nearest valid memories of ``scope`` for each row of ``vectors``
        (with ``live_after``: also those that stopped holding after that time).

        A small scope (the common case for one user's memories) is read once from SQL and
        scored for every vector in one matrix product; a large one gets one index search
        per vector.
        """
        found = await self.scope_vectors(scope, live_after=live_after)
        return await self.nearest(found, vectors, scope, k, live_after=live_after)

    async def scope_vectors(
        self, scope: dict[str, str], *, live_after: datetime | None = None
    ) -> ScopeVectors | None:
        """The ids and unit vectors of ``scope``'s valid memories (with ``live_after``:
        also those that stopped holding after that time), read once for several
        :meth:`nearest` rounds; ``None`` when the scope is larger than the exact bound
        (read up to that bound plus one row: no count query first)."""
        return await self._io(self._read_scope, scope, live_after)

    def _read_scope(
        self, scope: dict[str, str], live_after: datetime | None
    ) -> ScopeVectors | None:
        """:meth:`scope_vectors` in a worker thread: the rows scaled there too, off the
        event loop (intelligent mode reads a scope per turn; its loop is the busy thread)."""
        ids, matrix = self._stores.records.live_vectors(scope, live_after, self._exact_max + 1)
        if len(ids) > self._exact_max:
            return None
        return ScopeVectors(ids, None if matrix is None else _unit(matrix))

    async def nearest(
        self,
        found: ScopeVectors | None,
        vectors: np.ndarray,
        scope: dict[str, str],
        k: int,
        *,
        live_after: datetime | None = None,
        known: dict[str, MemoryItem] | None = None,
    ) -> list[list[MemoryItem]]:
        """:meth:`vector_many` on vectors ``found`` by :meth:`scope_vectors` with the
        same arguments (``None``: one index search per vector). Memories in ``known``
        (by id) are not fetched again."""
        if found is None:
            post: dict[str, Any] = {"live_after": live_after} if live_after is not None else {}
            return list(
                await asyncio.gather(*(self.vector(v, scope, None, k, **post) for v in vectors))
            )
        if found.unit is None:
            return [[] for _ in vectors]
        ids = found.ids
        scores = found.unit @ _unit(np.asarray(vectors, dtype=np.float32)).T  # (rows, queries)
        top = np.argsort(-scores, axis=0, kind="stable")[:k].T
        items = dict(known or {})
        wanted = list(dict.fromkeys(ids[i] for row in top for i in row if ids[i] not in items))
        if wanted:
            items.update(await self._io(self._stores.records.fetch, wanted))
        return [
            [
                items[ids[i]].model_copy(update={"score": float(scores[i, q])})
                for i in row
                if ids[i] in items
            ]
            for q, row in enumerate(top)
        ]

    async def fulltext(
        self, text: str, scope: dict[str, str], flt: Filter | None, k: int, **post: Any
    ) -> list[MemoryItem]:
        def fetch(n: int, rows: dict[str, dict[str, Any]]) -> list[tuple[str, float]]:
            return self._stores.vectors.search_text(text, scope, n)

        return await self._widen(fetch, scope, flt, k, **post)

    async def hybrid(
        self,
        text: str | None,
        vector: np.ndarray | Callable[[], np.ndarray],
        scope: dict[str, str],
        flt: Filter | None,
        k: int,
        **post: Any,
    ) -> list[MemoryItem]:
        depth = max(2 * k, 20)
        dense = await self.vector(vector, scope, flt, depth, **post)
        sparse = await self.fulltext(text, scope, flt, depth, **post) if text else []
        by_id = {m.id: m for m in (*dense, *sparse)}
        fused = fuse(
            [(m.id, m.score or 0.0) for m in dense],
            [(m.id, m.score or 0.0) for m in sparse],
            **self._fusion,
        )[:k]
        return [by_id[i].model_copy(update={"score": s}) for i, s in fused]

    async def _widen(
        self,
        fetch: Fetch,
        scope: dict[str, str],
        flt: Filter | None,
        k: int,
        *,
        first: Callable[[int], tuple[list[MemoryItem], bool]] | None = None,
        **post: Any,
    ) -> list[MemoryItem]:
        """Fetch ``n`` candidates, keep those SQL confirms, widen ``n`` until ``k`` survive
        or the candidates run out; each round is one worker-thread call."""
        # Without filters only invalidated memories can drop out: a small margin will do.
        plain = flt is None and post.get("as_of") is None
        n = k + 8 if plain else max(k * self._overfetch, 16)
        if first is not None:
            hits, done = await self._io(first, n)
        else:
            hits, done = await self._io(self._round, fetch, n, scope, flt, k, post)
        while not done:
            n *= 4
            hits, done = await self._io(self._round, fetch, n, scope, flt, k, post)
        return hits[:k]

    def _round(
        self,
        fetch: Fetch,
        n: int,
        scope: dict[str, str],
        flt: Filter | None,
        k: int,
        post: dict[str, Any],
    ) -> tuple[list[MemoryItem], bool]:
        """One round of :meth:`_widen`: the hits, and whether they are final."""
        rows: dict[str, dict[str, Any]] = {}
        candidates = fetch(n, rows)
        if rows and flt is None and not (post.get("as_of") or post.get("live_after")):
            hits = self._kept(candidates, rows, k, post.get("include_invalidated", False))
        else:
            items = self._stores.records.fetch(
                [i for i, _ in candidates], scope=scope, flt=flt, **_fetch_post(post)
            )
            hits = [items[i].model_copy(update={"score": s}) for i, s in candidates if i in items]
        return hits, len(hits) >= k or len(candidates) < n

    def _kept(
        self,
        candidates: list[tuple[str, float]],
        rows: dict[str, dict[str, Any]],
        k: int,
        include_invalidated: bool,
    ) -> list[MemoryItem]:
        """The first ``k`` candidates whose records came with them (in the scope) and
        hold: unexpired and, unless asked otherwise, not invalidated, as
        ``RecordStore.fetch`` keeps them. One read of the records, not two, and only the
        memories returned are built (building all the candidates had cost what the read
        saved). With the mapped reads: 1M-row scope 9.54 -> 8.54 ms p50 side by side
        (issue 14, BENCHMARKS.md)."""
        now = _expiry.utc_now()
        hits: list[MemoryItem] = []
        for i, score in candidates:
            values = rows.get(i)
            if values is None or (values["invalid_at"] is not None and not include_invalidated):
                continue
            if (item := self._stores.records.item(values, now, score)) is not None:
                hits.append(item)
                if len(hits) == k:
                    break
        return hits

    def _exact_in_thread(
        self,
        vector: np.ndarray,
        scope: dict[str, str],
        flt: Filter | None,
        k: int,
        max_rows: int | None,
        **post: Any,
    ) -> list[MemoryItem] | None:
        """Exact top ``k`` from SQL, in one worker-thread call (count, read, score, fetch);
        ``None`` when more than ``max_rows`` rows match."""
        if (index := self._stores.atomic) is not None:
            return self._exact_in_database(index, vector, scope, flt, k, max_rows, post)
        found = self._scope_vectors(scope, flt, max_rows, post)
        if found is None:
            return None
        if found.unit is None:
            return []
        scores = found.unit @ _unit(vector.reshape(1, -1))[0]
        if len(scores) > k:
            part = np.argpartition(-scores, k)[:k]
            top = part[np.argsort(-scores[part], kind="stable")]
        else:
            top = np.argsort(-scores, kind="stable")
        chosen = [(found.ids[i], float(scores[i])) for i in top]
        items = self._stores.records.fetch([i for i, _ in chosen])
        return [items[i].model_copy(update={"score": s}) for i, s in chosen if i in items]

    def _exact_in_database(
        self,
        index: PgVectorIndex,
        vector: np.ndarray,
        scope: dict[str, str],
        flt: Filter | None,
        k: int,
        max_rows: int | None,
        post: dict[str, Any],
    ) -> list[MemoryItem] | None:
        """:meth:`_exact_in_thread` with everything in PostgreSQL: pgvector scores the
        matching rows in the database and returns their records in the same query, so a
        user's memories no longer cross the socket as vectors (1,000 rows: ~1 MB per
        search, ~20 ms). Only the verdict "larger than the bound" is cached."""
        if not self._small(scope, flt, post, max_rows):
            return None
        records = self._stores.records
        where = records.matching(scope, flt, **_fetch_post(post))
        now = _expiry.utc_now()
        return [
            item
            for values, score in index.nearest_records(vector, where, k)
            if (item := records.item(values, now, score)) is not None
        ]

    def _scope_vectors(
        self, scope: dict[str, str], flt: Filter | None, max_rows: int | None, post: dict[str, Any]
    ) -> ScopeVectors | None:
        """The matching rows' ids and unit vectors; ``None`` when more than ``max_rows``
        match. Plain scopes (no filter, valid memories now) come from the cache while
        nothing has been written."""
        records = self._stores.records
        plain = _plain(flt, post)
        entry, version = self._cache.lookup(scope, _expiry.utc_now()) if plain else (None, None)
        if entry is not None and not (entry.large and max_rows is None):
            return None if entry.large else entry
        if max_rows is not None and self._over(scope, flt, max_rows, post, version):
            return None
        ids, matrix, expires_at = records.vectors(scope, flt, **post)
        found = ScopeVectors(ids, None if matrix is None else _unit(matrix), expires_at=expires_at)
        if plain:
            self._cache.store(scope, version, found)
        return found

    def _small(
        self, scope: dict[str, str], flt: Filter | None, post: dict[str, Any], max_rows: int | None
    ) -> bool:
        """Whether at most ``max_rows`` rows match (``None``: no bound), so they are
        scored exactly (with everything in PostgreSQL, where no vectors are read); the
        verdict is cached until anything is written, so a repeated search does not
        count again. An entry here holds no vectors: this cache's entries are only ever
        verdicts (:meth:`_scope_vectors`, which keeps vectors, serves the other stores)."""
        if max_rows is None:
            return True
        plain = _plain(flt, post)
        entry, version = self._cache.lookup(scope, _expiry.utc_now()) if plain else (None, None)
        if entry is not None:
            return not entry.large
        if self._over(scope, flt, max_rows, post, version):
            return False
        self._cache.store(scope, version, ScopeVectors([], None))  # "small", not empty
        return True

    def _over(
        self,
        scope: dict[str, str],
        flt: Filter | None,
        max_rows: int,
        post: dict[str, Any],
        version: object | None,
    ) -> bool:
        """Whether more than ``max_rows`` rows match (counted up to one past it); the
        verdict is cached under ``version`` (``None``: not cached)."""
        count = self._stores.records.count(scope, flt, at_most=max_rows + 1, **post)
        if count <= max_rows:
            return False
        self._cache.store(scope, version, ScopeVectors([], None, large=True))
        return True

"""The read half of :class:`~agentmem_plugins.storage._vectors.VectorIndex`: nearest rows
in a scope (the ANN index, then a prefilter when the scope needs one) and full-text
matches.

A mixin, like the records' halves, so each half stays a file one can read in one
sitting; it holds no state of its own and relies on the attributes
``VectorIndex.__init__`` sets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._row_ids import RowIds, plausible
from ._upkeep import search_params

__all__ = ["VectorSearch", "VectorsOf", "scope_where", "sql_literal"]

log = logging.getLogger("agentmem_plugins")


def sql_literal(value: str) -> str:
    """A LanceDB (DataFusion SQL) string literal: values never become code (invariant 6)."""
    return "'" + value.replace("'", "''") + "'"


def scope_where(scope: dict[str, str]) -> str | None:
    if not scope:
        return None
    return " AND ".join(f"{k} = {sql_literal(v)}" for k, v in sorted(scope.items()))


def _one_hop() -> Callable[[Any], Any]:
    """Runs a coroutine on LanceDB's background event loop and waits for it.

    Why: the sync query API crosses from the calling thread to that loop five or six
    times per search (schema, plan, each batch, end of stream), 7.9 vs 4.7 ms per query
    at 100k rows on this machine (issue 14); building the query on the sync handle's
    ``AsyncTable`` and awaiting ``to_arrow()`` there crosses once. Both are LanceDB
    internals (``LanceTable._table``, ``background_loop.LOOP``), so a LanceDB release that
    moves them fails loudly (every index search in the tests comes through here), not
    slowly.
    """
    from lancedb.background_loop import LOOP

    run: Callable[[Any], Any] = LOOP.run
    return run


async def _collect(query: Any) -> Any:
    """The query's rows as one Arrow table. Executes the native query directly: the
    wrapper's ``to_arrow()`` first reads the table schema (one more consistency check of
    the manifest, ~0.5 ms per search here) to find blob columns, which this table has
    none of."""
    import pyarrow as pa

    stream = await query._inner.execute()
    batches = [batch async for batch in stream]
    return pa.Table.from_batches(batches, schema=stream.schema)


#: for ids and a scope, each record's vector (``None``: outside the scope); ids without a
#: record left out (``RecordStore.candidate_vectors``: the records are the source of truth);
#: given a dict, also puts the columns of the memories in the scope there, read with them
VectorsOf = Callable[
    [Sequence[str], dict[str, str], "dict[str, dict[str, Any]] | None"],
    dict[str, "np.ndarray | None"],
]


class VectorSearch:
    _table: Any
    _has_ann: bool
    _ann_trained: int
    _ann_ef: int
    _needs_prefilter: set[str]
    _vectors_of: VectorsOf
    _row_ids: RowIds

    if TYPE_CHECKING:  # provided by VectorIndex

        def _handle(self) -> Any: ...  # the table, opened late

        def _ensure_fts(self) -> None: ...  # builds the full-text index once

        def _prewarm(self) -> None: ...  # asks LanceDB to load the ANN index

    def search_vector(
        self,
        vector: np.ndarray,
        scope: dict[str, str],
        k: int,
        *,
        rows: dict[str, dict[str, Any]] | None = None,
    ) -> list[tuple[str, float]]:
        """``(id, cosine similarity)`` of the ``k`` nearest rows in ``scope``; given
        ``rows``, the columns of the candidates' records are put there, read with the
        vectors that re-score them (:meth:`_search_ann`).

        With the ANN index, a scope is first tried *after* the index search: the index's
        nearest ``1.5k`` rows of the whole table, kept if the records put them in
        ``scope``. For a scope holding most of the table (a document index) that skips
        LanceDB's filter stage (a separate read of the scope column, and a row mask over
        the whole table with a prefilter): 4.8 vs 5.8 ms per query at 100k rows
        (issue 14). When fewer than ``k`` survive, the scope is searched with a
        prefilter; when fewer than half did, the scope is remembered as one that needs it
        (until the next reopen)."""
        if self._handle() is None:
            return []
        where = scope_where(scope)
        if where is not None and self._has_ann and where not in self._needs_prefilter:
            found = self._search_ann(vector, scope, k + k // 2, prefilter=False, rows=rows)
            if len(found) >= k:
                return found[:k]
            if len(found) < k // 2:
                self._needs_prefilter.add(where)
        return self._search_ann(vector, scope, k, prefilter=True, rows=rows)

    def _search_ann(
        self,
        vector: np.ndarray,
        scope: dict[str, str],
        k: int,
        *,
        prefilter: bool,
        by_address: bool = True,
        rows: dict[str, dict[str, Any]] | None = None,
    ) -> list[tuple[str, float]]:
        """One query, built on the table's async handle and run in one hop to LanceDB's
        event loop (``_one_hop``), with ``scope`` as a prefilter or (``prefilter=False``)
        checked afterwards on the rows found.

        LanceDB returns the candidates' row addresses alone, mapped to ids in memory
        (``_row_ids``; until the map is built the query returns ids, and after a miss the
        ids are read by address); their vectors, and whether they are in
        ``scope``, come from the records (``_vectors_of``), and the candidates are scored
        and ordered exactly here: the IVF_SQ index ranks them by its 8-bit codes.
        LanceDB's "take" of a result's columns cost more than its index search at 1M
        rows (51 probes, 27 rows: no column 7.7-8.2 ms, ids 10.6-11.1; ids and vectors
        12.9; with the scope column too 16.7; issue 14), and more so on object storage
        (60k rows on moto S3, search p50: every column 2.0 s, ids 0.36, none 0.043)."""
        ids, distances, mapped = self._candidates(
            vector, scope, k, prefilter=prefilter, by_address=by_address
        )
        vectors = self._vectors_of(ids, scope, rows)
        inside = [(i, row) for i in ids if (row := vectors.get(i)) is not None]
        exact: dict[str, float] = {}
        if inside:
            matrix = np.vstack([row for _, row in inside])
            unit = vector.astype(np.float32) / max(float(np.linalg.norm(vector)), 1e-12)
            scores = matrix @ unit / np.maximum(np.linalg.norm(matrix, axis=1), 1e-12)
            exact = dict(zip([i for i, _ in inside], scores.tolist(), strict=True))
        if mapped and not plausible(ids, distances, vectors, exact):
            log.warning(
                "row addresses did not match the records (a table made again?): "
                "the address map is cleared"
            )
            self._row_ids.clear()
            return self._search_ann(
                vector, scope, k, prefilter=prefilter, by_address=False, rows=rows
            )
        # gone from the records meanwhile (a delete in flight): counted with the index's
        # score, then dropped by the record fetch
        scored = [
            (i, 1.0 - float(d))
            for i, d in zip(ids, distances.tolist(), strict=True)
            if i not in vectors
        ]
        scored += exact.items()
        scored.sort(key=lambda hit: -hit[1])
        return scored

    def _candidates(
        self,
        vector: np.ndarray,
        scope: dict[str, str],
        k: int,
        *,
        prefilter: bool,
        by_address: bool,
    ) -> tuple[list[str], np.ndarray, bool]:
        """The index's ``k`` nearest rows: their ids, LanceDB's distances, and whether the
        ids came from the address map (``_row_ids``) rather than from LanceDB."""
        run = _one_hop()
        if by_address and self._has_ann and self._row_ids.ready:
            found = run(_collect(self._query(vector, scope, k, prefilter, ["_distance"])))
            addresses = found.column("_rowid").to_numpy()
            distances = found.column("_distance").to_numpy()
            ids = self._row_ids.lookup(addresses)
            if ids is not None:
                return ids, distances, True
            # rows the map has not learnt yet (new since its last scan, being read now):
            # their ids by address, 2-4 ms where asking the index again cost the whole
            # search (a search right after a write would otherwise pay twice)
            wanted = addresses.tolist()
            taken = run(
                _collect(self._table._table.take_row_ids(wanted).select(["id"]).with_row_id())
            )
            by_row = dict(
                zip(taken.column("_rowid").to_pylist(), taken.column("id").to_pylist(), strict=True)
            )
            kept = [n for n, a in enumerate(wanted) if a in by_row]  # deleted meanwhile: gone
            return [by_row[wanted[n]] for n in kept], distances[kept], False
        elif self._has_ann:  # the first index searches of this process (or a cleared map)
            self._row_ids.refresh_soon()
            self._prewarm()
        found = run(_collect(self._query(vector, scope, k, prefilter, ["id", "_distance"])))
        return found.column("id").to_pylist(), found.column("_distance").to_numpy(), False

    def _query(
        self, vector: np.ndarray, scope: dict[str, str], k: int, prefilter: bool, columns: list[str]
    ) -> Any:
        """The query on the table's async handle, returning ``columns`` (``_rowid`` too when
        ``id`` is not among them)."""
        query = (
            self._table._table.query()  # the AsyncTable behind the sync handle
            .nearest_to(vector.astype(np.float32))
            .column("vector")
            .distance_type("cosine")
            .limit(k)
            .select(columns)  # LanceDB adds _distance whether asked or not
        )
        if "id" not in columns:
            query = query.with_row_id()
        if prefilter and (where := scope_where(scope)) is not None:
            query = query.where(where)
        if self._has_ann:
            query = search_params(query, k, trained=self._ann_trained, ef=self._ann_ef)
        return query

    def search_text(self, text: str, scope: dict[str, str], k: int) -> list[tuple[str, float]]:
        """``(id, BM25 score)`` of the best full-text matches in ``scope``."""
        if self._handle() is None:
            return []
        self._ensure_fts()
        query = (
            self._table.search(text, query_type="fts", fts_columns="text")
            .limit(k)
            .select(["id", "_score"])
        )
        if (where := scope_where(scope)) is not None:
            query = query.where(where, prefilter=True)
        table = query.to_arrow()
        return list(
            zip(table.column("id").to_pylist(), table.column("_score").to_pylist(), strict=True)
        )

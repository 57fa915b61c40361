"""The read half of :class:`~agentmem_plugins.storage._vectors.VectorIndex`: nearest rows
in a scope (the ANN index, then a prefilter when the scope needs one) and full-text
matches.

A mixin, like the records' halves, so each half stays a file one can read in one
sitting; it holds no state of its own and relies on the attributes
``VectorIndex.__init__`` sets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._upkeep import search_params

__all__ = ["VectorSearch", "scope_where", "sql_literal"]


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


class VectorSearch:
    _table: Any
    _has_ann: bool
    _ann_trained: int
    _ann_ef: int
    _needs_prefilter: set[str]

    if TYPE_CHECKING:  # provided by VectorIndex

        def _handle(self) -> Any: ...  # the table, opened late

        def _ensure_fts(self) -> None: ...  # builds the full-text index once

    def search_vector(
        self, vector: np.ndarray, scope: dict[str, str], k: int
    ) -> list[tuple[str, float]]:
        """``(id, cosine similarity)`` of the ``k`` nearest rows in ``scope``.

        With the ANN index, a scope is first tried *after* the index search: the index's
        nearest ``1.5k`` rows of the whole table, with their scope columns, kept if they
        are in ``scope``. For a scope holding most of the table (a document index) that
        skips LanceDB's filter stage (a separate read of the scope column, and a row mask
        over the whole table with a prefilter): 4.8 vs 5.8 ms per query at 100k rows
        (issue 14). When fewer than ``k`` survive, the scope is searched with a
        prefilter; when fewer than half did, the scope is remembered as one that needs it
        (until the next reopen)."""
        if self._handle() is None:
            return []
        where = scope_where(scope)
        if where is not None and self._has_ann and where not in self._needs_prefilter:
            found = self._search_ann(vector, None, k + k // 2, scope=scope)
            if len(found) >= k:
                return found[:k]
            if len(found) < k // 2:
                self._needs_prefilter.add(where)
        return self._search_ann(vector, where, k)

    def _search_ann(
        self,
        vector: np.ndarray,
        where: str | None,
        k: int,
        *,
        scope: dict[str, str] | None = None,
    ) -> list[tuple[str, float]]:
        """One query, built on the table's async handle and run in one hop to LanceDB's
        event loop (``_one_hop``); ``where`` is a prefilter, ``scope`` (with no
        ``where``) is checked here on the rows found. Candidates come back with their
        full vectors and are scored and ordered exactly here: the IVF_SQ index ranks them
        by its 8-bit codes, and this replaces LanceDB's ``refine_factor`` re-read of full
        vectors (same recall, ~3 ms less per query at 100k rows, issue 14)."""
        table, run = self._table, _one_hop()
        columns = ["id", "vector", *sorted(scope or ()), "_distance"]  # LanceDB adds _distance
        query = (
            table._table.query()  # the AsyncTable behind the sync handle
            .nearest_to(vector.astype(np.float32))
            .column("vector")
            .distance_type("cosine")
            .limit(k)
            .select(columns)
        )
        if where is not None:
            query = query.where(where)
        if self._has_ann:
            query = search_params(query, k, trained=self._ann_trained, ef=self._ann_ef)
        found = run(_collect(query))
        if scope:
            wanted = sorted(scope.items())
            columns_found = [found.column(c).to_pylist() for c, _ in wanted]
            keep = [
                all(col[i] == value for col, (_, value) in zip(columns_found, wanted, strict=True))
                for i in range(found.num_rows)
            ]
            found = found.filter(keep)
        if found.num_rows == 0:
            return []
        ids = found.column("id").to_pylist()
        matrix = found.column("vector").combine_chunks().flatten().to_numpy()
        matrix = matrix.reshape(len(ids), -1).astype(np.float32, copy=False)
        unit = vector.astype(np.float32) / max(float(np.linalg.norm(vector)), 1e-12)
        scores = matrix @ unit / np.maximum(np.linalg.norm(matrix, axis=1), 1e-12)
        order = np.argsort(-scores, kind="stable")
        return [(ids[i], float(scores[i])) for i in order]

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

"""``PgVectorSearch``: the reads of the pgvector table (nearest rows, exact scoring of
small scopes in the database, full text), mixed into ``PgVectorIndex``.

With the records in the same database (``vector_uri == sql_url``) a search reads its
candidates' records in the same query, and a small scope is scored by pgvector itself:
no vectors cross the socket (issue 14, BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from .._validation import SCOPE_FIELDS
from ._pgvector_wire import TABLE, VectorType, _encode
from ._record_columns import _ITEM_NAMES, M

__all__ = ["SCOPE_COLUMNS", "PgVectorSearch"]

SCOPE_COLUMNS = SCOPE_FIELDS
MEMORIES = M.name  # the records' table, joined when it is in this database
_VECTORS = sa.table(TABLE, sa.column("id", sa.String), sa.column("embedding"))  # for joins


class PgVectorSearch:
    _engine: sa.Engine
    _type: VectorType
    _ef: int
    _lang: str
    _records_here: bool

    if TYPE_CHECKING:

        def _table(self) -> bool: ...  # whether the table exists (looked up again if not)

        def _prepare(self, dbapi_conn: Any) -> None: ...  # the vector type's dumper

    @staticmethod
    def _scope_sql(scope: dict[str, str], params: list[Any]) -> str:
        parts = []
        for key in SCOPE_COLUMNS:  # column names from our own list; values bound
            if key in scope:
                parts.append(f"{key} = %s")
                params.append(scope[key])
        return "".join(f" AND {p}" for p in parts)

    def search_vector(
        self,
        vector: np.ndarray,
        scope: dict[str, str],
        k: int,
        *,
        rows: dict[str, dict[str, Any]] | None = None,
        exact: bool = False,
    ) -> list[tuple[str, float]]:
        """``(id, cosine similarity)`` of the ``k`` nearest rows in ``scope``, scored on
        the stored vectors by pgvector itself. Given ``rows``, with the records in this
        database, the candidates' records come in the same query (joined by id after the
        index's ``ORDER BY ... LIMIT``, which keeps its plan) and are put there by id, as
        ``RecordVectors.candidate_vectors`` puts them: the search needs no second read.
        Otherwise ``rows`` is left as it is and the search reads the records next.

        ``exact``: every row of the scope is scored (the order is then an expression the
        HNSW index cannot serve, so the planner reads the scope by its B-tree index and
        keeps the top ``k``): a small scope's exact search, in the database. A user's
        1,000 memories: ~2 ms in PostgreSQL, where reading their vectors into the process
        took ~20 ms (issue 14)."""
        if not self._table():
            return []
        params: list[Any] = []
        where = self._scope_sql(scope, params)
        distance = "(embedding <=> %b) + 0" if exact else "embedding <=> %b"
        nearest = f"SELECT id, {distance} AS d FROM {TABLE} WHERE true{where} ORDER BY d LIMIT %s"
        joined = rows is not None and self._records_here
        if joined:
            cols = ", ".join(f'm."{n}"' for n in _ITEM_NAMES)  # the records' own names
            nearest = (
                f"SELECT v.id, v.d, {cols} FROM ({nearest}) AS v "
                f"LEFT JOIN {MEMORIES} AS m ON m.id = v.id"
            )
        with self._engine.begin() as conn:
            dbapi: Any = conn.connection.dbapi_connection  # psycopg.Connection
            self._prepare(dbapi)
            (query,) = _encode(np.asarray(vector, dtype=np.float32).reshape(1, -1), self._type)
            with dbapi.cursor() as cur:
                if not exact:  # the index's settings (an exact search does not use it)
                    cur.execute(f"SET LOCAL hnsw.ef_search = {self._ef}")
                    cur.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                cur.execute(nearest, [query, *params, k])
                found = cur.fetchall()
        found.sort(key=lambda r: r[1])  # relaxed_order may return neighbours slightly out of order
        if joined:
            assert rows is not None
            for row in found:
                values = dict(zip(_ITEM_NAMES, row[2:], strict=True))
                # no record (none can be missing in one transaction) or another scope: left
                # out, as the records' own read leaves them out
                if values["id"] is not None and all(values[f] == v for f, v in scope.items()):
                    rows[values["id"]] = values
        return [(row[0], 1.0 - float(row[1])) for row in found]

    def nearest_records(
        self, vector: np.ndarray, where: Sequence[sa.ColumnElement[bool]], k: int
    ) -> list[tuple[dict[str, Any], float]]:
        """The records of the ``k`` rows matching ``where`` (clauses on the memories
        table, ``RecordReads.matching``) nearest to ``vector``, with their cosine
        similarity, scored exactly by pgvector over every matching row: the order is an
        expression the HNSW index cannot serve, so the planner finds the rows by the
        records' scope index and sorts them. For small scopes (the caller bounds the
        count), with the records in this database: one query, and no vectors cross the
        socket."""
        if not self._table():
            return []
        (query,) = _encode(np.asarray(vector, dtype=np.float32).reshape(1, -1), self._type)
        distance = _VECTORS.c.embedding.op("<=>", return_type=sa.Float)(sa.bindparam("q", query))
        exact = (distance + 0).label("d")  # "+ 0": not the index's ORDER BY, so exact
        statement = (
            sa.select(*(M.c[n] for n in _ITEM_NAMES), exact)
            .select_from(M.join(_VECTORS, _VECTORS.c.id == M.c.id))
            .where(*where)
            .order_by(exact)
            .limit(k)
        )
        with self._engine.connect() as conn:
            self._prepare(conn.connection.dbapi_connection)
            found = conn.execute(statement).all()
        return [
            (dict(zip(_ITEM_NAMES, row[:-1], strict=True)), 1.0 - float(row[-1])) for row in found
        ]

    def search_text(self, text: str, scope: dict[str, str], k: int) -> list[tuple[str, float]]:
        """``(id, ts_rank_cd)`` of the best full-text matches in ``scope``."""
        if not self._table():
            return []
        params: list[Any] = [self._lang, text]
        where = self._scope_sql(scope, params)
        with self._engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT id, ts_rank_cd(tsv, q) AS r FROM {TABLE}, "
                f"websearch_to_tsquery(%s::regconfig, %s) AS q WHERE tsv @@ q{where} "
                "ORDER BY r DESC, id LIMIT %s",
                tuple([*params, k]),
            ).all()
        return [(i, float(r)) for i, r in rows]

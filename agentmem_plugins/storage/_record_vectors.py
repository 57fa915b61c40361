"""The vector reads of :class:`~agentmem_plugins.storage._records.RecordStore`: the ids
and stacked vectors of a scope (exact search on small sets, intelligent mode's
neighbours) and the vectors of given ids.

A mixin like :mod:`._record_reads`, whose where clause it uses; it holds no state of its
own and relies on the attributes ``RecordStore.__init__`` sets.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .. import _expiry
from .._filters import Filter
from ._bulk import sqlite_param
from ._record_columns import _ITEM_NAMES, M, _chunks
from ._sqlite_packed import packed_rows

__all__ = ["RecordVectors"]


class RecordVectors:
    dialect: str
    _read: Engine
    matching: Callable[..., builtins.list[sa.ColumnElement[bool]]]  # RecordReads'

    def vectors(
        self,
        scope: dict[str, str],
        flt: Filter | None,
        *,
        include_invalidated: bool = False,
        as_of: datetime | None = None,
        limit: int | None = None,
        live_after: datetime | None = None,
    ) -> tuple[builtins.list[str], np.ndarray | None, datetime | None]:
        """Ids and stacked vectors of the matching rows (for exact search on small sets),
        and the earliest expiry among them (naive UTC; ``None``: none expires), until
        which a copy of them holds (``_scope_cache``)."""
        where = self.matching(
            scope, flt, include_invalidated=include_invalidated, as_of=as_of, live_after=live_after
        )
        query = sa.select(M.c.id, M.c.vector, M.c.expires_at).where(*where).limit(limit)
        with self._read.connect() as conn:
            if self.dialect == "sqlite":
                # the hot read of every small-scope search: skip the Row machinery
                # (5.7 -> 3 ms for 1,000 vectors)
                compiled = query.compile(
                    dialect=self._read.dialect, compile_kwargs={"render_postcompile": True}
                )
                params = tuple(
                    sqlite_param(compiled.params[name]) for name in compiled.positiontup or ()
                )
                dbapi = conn.connection.dbapi_connection
                columns = ["id", "expires_at"]
                found, data = packed_rows(dbapi, compiled.string, params, columns, "vector")
                ids, matrix = _unpacked([r[0] for r in found], data)
                return ids, matrix, _earliest(r[1] for r in found)
            rows = [tuple(r) for r in conn.execute(query)]
        ids, matrix = _stacked(rows)
        return ids, matrix, _earliest(r[2] for r in rows)

    def live_vectors(
        self, scope: dict[str, str], live_after: datetime | None, limit: int
    ) -> tuple[builtins.list[str], np.ndarray | None]:
        """:meth:`vectors` of ``scope``'s valid memories, and with ``live_after`` also of
        those that stopped holding after it, at most ``limit`` rows: intelligent mode's
        neighbour read, once per group of messages. On SQLite one statement straight
        through the DBAPI (13 rows: 1.8 -> 0.1 ms; the count query, the expiry probe and
        statement building were all of it); expired memories are left out by the clause."""
        if self.dialect != "sqlite" or not set(scope) <= _PLAIN_COLUMNS:
            ids, matrix, _ = self.vectors(scope, None, live_after=live_after, limit=limit)
            return ids, matrix
        keys = sorted(scope)  # the table's own column names, never from input
        where = [f"{k} = ?" for k in keys]
        params: builtins.list[Any] = [scope[k] for k in keys]
        if live_after is None:
            where.append("invalid_at IS NULL")
        else:
            where.append("(invalid_at IS NULL OR invalid_at > ?)")
            params.append(sqlite_param(live_after.replace(tzinfo=None)))
        where.append("(expires_at IS NULL OR expires_at > ?)")
        params += [sqlite_param(_expiry.utc_now()), limit]
        sql = f"SELECT id, vector FROM memories WHERE {' AND '.join(where)} LIMIT ?"
        with self._read.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            rows, data = packed_rows(dbapi, sql, params, ["id"], "vector")
        return _unpacked([r[0] for r in rows], data)

    def vectors_of(self, ids: Sequence[str], scope: dict[str, str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        cols = [M.c.id, M.c.vector, *(M.c[k] for k in scope)]
        where = self.matching({}, None, include_invalidated=True)
        with self._read.connect() as conn:
            for chunk in _chunks(list(ids)):
                for row in conn.execute(sa.select(*cols).where(M.c.id.in_(chunk), *where)):
                    if all(getattr(row, k) == v for k, v in scope.items()):
                        out[row.id] = np.frombuffer(row.vector, dtype=np.float32)
        return out

    def candidate_vectors(
        self,
        ids: Sequence[str],
        scope: dict[str, str],
        rows: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, np.ndarray | None]:
        """For each of ``ids`` that has a record: its vector, or ``None`` when the record
        is outside ``scope``; ids without a record are left out. Whatever the memory's
        validity or expiry: the search fetching the records next drops those, and counts
        the candidates to know whether to widen its fetch.

        The LanceDB index returns its candidates' ids alone and re-scores them with
        these (issue 14). On SQLite straight through the DBAPI (27 rows of a 1M-row table:
        0.4-0.6 ms). The scope is checked here, not in SQL (see :meth:`RecordReads.fetch`).

        ``rows``: also the columns of the memories in ``scope``, in the same read, put
        there by id as read (:meth:`RecordReads.item` makes a memory of them, for the
        few candidates a search keeps): the search needs no second read of those rows."""
        keys = sorted(scope)
        out: dict[str, np.ndarray | None] = {}
        with self._read.connect() as conn:
            for chunk in _chunks(list(ids)):
                for values, vector in self._candidate_rows(conn, chunk, keys, rows is not None):
                    inside = all(values[k] == scope[k] for k in keys)
                    out[values["id"]] = vector if inside else None
                    if inside and rows is not None:
                        rows[values["id"]] = values
        return out

    def _candidate_rows(
        self, conn: Any, ids: Sequence[str], keys: builtins.list[str], whole: bool
    ) -> builtins.list[tuple[dict[str, Any], np.ndarray]]:
        """Each record of ``ids``: its columns (``whole``: a memory's, else the id and the
        scope ``keys``) and its vector."""
        names = _ITEM_NAMES if whole else ["id", *keys]
        if self.dialect == "sqlite" and set(names) <= _PLAIN_COLUMNS:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            cols = ", ".join(f'"{n}"' for n in [*names, "vector"])  # the table's own names
            marks = ", ".join("?" * len(ids))
            sql = f"SELECT {cols} FROM memories WHERE id IN ({marks})"
            found, data = packed_rows(dbapi, sql, ids, names, "vector")
            _, matrix = _unpacked([r[0] for r in found], data)
            return [
                (dict(zip(names, row, strict=True)), matrix[n])  # type: ignore[index]
                for n, row in enumerate(found)
            ]
        query = sa.select(*(M.c[n] for n in names), M.c.vector).where(M.c.id.in_(ids))
        return [
            (row._asdict(), np.frombuffer(row.vector, dtype=np.float32))
            for row in conn.execute(query)
        ]


#: columns a packed SQLite read may name: the memories table's own, never input
_PLAIN_COLUMNS = {*_ITEM_NAMES}


def _earliest(values: Iterable[datetime | str | None]) -> datetime | None:
    """The earliest of ``expires_at`` values as read (SQLite's ISO text, in one format, so
    the least string is the earliest time; a datetime elsewhere)."""
    found = min((v for v in values if v is not None), default=None)
    if isinstance(found, str):
        return datetime.fromisoformat(found)
    return found


def _unpacked(ids: builtins.list[str], data: bytes) -> tuple[builtins.list[str], np.ndarray | None]:
    """Ids and their vectors' bytes joined in the same order (:func:`packed_rows`) as
    the ids and one ``(len(ids), dim)`` matrix."""
    if not ids:
        return [], None
    matrix = np.frombuffer(data, dtype=np.float32)
    if matrix.size % len(ids):
        raise RuntimeError(f"{len(data)} bytes of vectors do not split into {len(ids)} rows")
    return ids, matrix.reshape(len(ids), -1)


def _stacked(rows: Sequence[Any]) -> tuple[builtins.list[str], np.ndarray | None]:
    """``(id, vector bytes)`` rows as their ids and one ``(len(rows), dim)`` matrix."""
    if not rows:
        return [], None
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
    return [r[0] for r in rows], matrix.reshape(len(rows), -1)

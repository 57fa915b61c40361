"""The write half of :class:`~agentmem_plugins.storage._records.RecordStore`: one batch's
:class:`~agentmem_plugins.storage._changes.Changes` (rows, deletes, invalidations,
expiries, history) and its write intents in one transaction, and the reset.

A mixin, like :mod:`._record_reads`, so each half stays a file one can read in one
sitting; it holds no state of its own and relies on the attributes
``RecordStore.__init__`` sets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ._bulk import bulk_insert
from ._changes import Changes
from ._journal import Intent, Journal
from ._record_columns import _ITEM_COLS, H, M, P, _chunks

__all__ = ["RecordWrites", "WriteMark"]


class WriteMark(NamedTuple):
    """Where the writing connection stood inside one write transaction."""

    connection: object  # the DBAPI connection (held, so its identity cannot be reused)
    version: int  # its PRAGMA data_version


class RecordWrites:
    dialect: str
    _write: Engine
    _read: Engine
    journal: Journal

    def existing(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored rows (without vectors) of those ``ids`` that exist."""
        found: dict[str, dict[str, Any]] = {}
        with self._read.connect() as conn:
            for chunk in _chunks(list(ids)):
                for row in conn.execute(sa.select(*_ITEM_COLS).where(M.c.id.in_(chunk))):
                    found[row.id] = row._asdict()
        return found

    def apply(
        self,
        changes: Changes,
        intents: Sequence[Intent] = (),
        finished: Sequence[str] = (),
        also: Callable[[Any, Changes], None] | None = None,
    ) -> WriteMark | None:
        """Apply one batch in one transaction, with write ``intents`` (and dropping the
        ``finished`` intents of earlier batches) when given; ``also(connection, changes)``
        runs inside it (the pgvector backend writes its side there when it lives in the
        same database). Returns the transaction's :class:`WriteMark` (SQLite) for
        :meth:`alone_since`."""
        with self._write.begin() as conn:
            if intents or finished:
                self.journal.record(conn, intents, finished)
            doomed = list(changes.replace_ids) + list(changes.delete_ids)
            for chunk in _chunks(doomed):
                conn.execute(M.delete().where(M.c.id.in_(chunk)))
            if changes.rows:
                bulk_insert(conn, self.dialect, M, changes.rows)
            stamp = datetime.now(timezone.utc).replace(tzinfo=None)
            for memory_id, at, reason in changes.invalidations:
                # an ended memory may end earlier (a late older fact), never later
                later = sa.or_(M.c.invalid_at.is_(None), M.c.invalid_at > at)
                conn.execute(
                    M.update()
                    .where(M.c.id == memory_id, later)
                    .values(invalid_at=at, invalid_reason=reason, updated_at=stamp)
                )
            for memory_id, when in changes.expiries:
                conn.execute(M.update().where(M.c.id == memory_id).values(expires_at=when))
            if changes.history:
                bulk_insert(conn, self.dialect, H, changes.history)
            if also is not None:
                also(conn, changes)
            return self._mark(conn)

    def _mark(self, conn: Any) -> WriteMark | None:
        """Inside a write transaction: no other connection can commit until it ends."""
        if self.dialect != "sqlite":
            return None
        version = conn.exec_driver_sql("PRAGMA data_version").scalar()
        return WriteMark(conn.connection.dbapi_connection, int(version))

    def alone_since(self, mark: WriteMark | None) -> bool:
        """``True`` when no other connection (so no other process) has committed since
        the transaction that returned ``mark``: nobody else can have changed its rows.
        SQLite's ``PRAGMA data_version`` on this process's one writing connection changes
        with every commit of another connection, never with its own. ``False`` when it
        cannot tell (PostgreSQL, or the pool replaced that connection)."""
        if mark is None:
            return False
        if self._write.pool.checkedout():  # type: ignore[attr-defined]
            # the other lane is writing: answer "can't tell" (the caller reads the
            # revisions instead) rather than queue behind its transaction
            return False
        raw = self._write.raw_connection()  # no BEGIN: the pragma runs in autocommit
        try:
            if raw.dbapi_connection is not mark.connection:
                return False
            cursor = raw.cursor()
            try:
                return int(cursor.execute("PRAGMA data_version").fetchone()[0]) == mark.version
            finally:
                cursor.close()
        finally:
            raw.close()

    def reset(self, also: Callable[[Any], None] | None = None) -> None:
        with self._write.begin() as conn:
            for table in (M, H, P):
                conn.execute(table.delete())
            if also is not None:
                also(conn)

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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ._bulk import bulk_insert
from ._changes import Changes
from ._journal import Intent, Journal
from ._record_columns import _ITEM_COLS, H, M, P, _chunks

__all__ = ["RecordWrites"]


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
    ) -> None:
        """Apply one batch in one transaction, with write ``intents`` (and dropping the
        ``finished`` intents of earlier batches) when given; ``also(connection, changes)``
        runs inside it (the pgvector backend writes its side there when it lives in the
        same database)."""
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

    def reset(self, also: Callable[[Any], None] | None = None) -> None:
        with self._write.begin() as conn:
            for table in (M, H, P):
                conn.execute(table.delete())
            if also is not None:
                also(conn)

"""The SQL tables as SQLAlchemy Core objects and the column lists and id chunking that
:class:`~agentmem_plugins.storage._records.RecordStore`'s reads and writes share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from ._tables import HistoryRow, MemoryRow, MetaRow, PendingRow

__all__ = ["H", "M", "META", "P"]

M = MemoryRow.__table__  # type: ignore[attr-defined]
H = HistoryRow.__table__  # type: ignore[attr-defined]
P = PendingRow.__table__  # type: ignore[attr-defined]
META = MetaRow.__table__  # type: ignore[attr-defined]
# sessions, write intents, leases: see _journal.py
_ITEM_COLS = [c for c in M.c if c.name not in ("vector", "rev")]
_ITEM_NAMES = [c.name for c in _ITEM_COLS]
_ITEM_SQL = ", ".join(f'"{n}"' for n in _ITEM_NAMES)
_ITEM_DATES = [c.name for c in _ITEM_COLS if isinstance(c.type, sa.DateTime)]
_IN_CHUNK = 900  # stay under SQLite's bound-parameter limit


def _chunks(items: Sequence[str], size: int = _IN_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]

"""``Changes``: one batch of writes, applied to both stores as a unit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from .._time import aware_utc as utc

__all__ = ["Changes", "utc"]


@dataclass
class Changes:
    """Rows to insert (replacing any row of the same id), deletes, invalidations, history.

    ``rows`` are dicts of :class:`~agentmem_plugins.storage._tables.MemoryRow` columns
    (``metadata`` for the JSON column, ``vector`` as float32 bytes); ``vectors`` holds
    the same vectors as one ``(len(rows), dim)`` array for the vector index.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    vectors: np.ndarray | None = None
    replace_ids: list[str] = field(default_factory=list)
    delete_ids: list[str] = field(default_factory=list)
    invalidations: list[tuple[str, datetime, str | None]] = field(default_factory=list)
    # (memory id, new expiry or None): SQL only, the vector side does not hold expiry
    expiries: list[tuple[str, datetime | None]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    #: every row has an id the writer just generated (nothing explicit, replaced or
    #: deleted): no other process can know these ids before SQL commits them, so the two
    #: sides may be written in parallel (see ``Stores.write``)
    generated_ids_only: bool = False

    def touches_vectors(self) -> bool:
        return bool(self.rows or self.replace_ids or self.delete_ids)

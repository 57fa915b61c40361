"""``Stores``: the two persistence sides kept consistent.

SQL is the source of truth (DESIGN invariant 2). Both sides are written in parallel;
if the process dies in between, the reconcile step on the next open trims vector rows
that SQL does not hold (or holds at another revision) and re-adds, from the vectors SQL
keeps, the rows the vector side lacks.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ._config import MemoryConfig
from ._errors import EmbedderMismatchError, InvalidInputError
from .embeddings import Embedder
from .storage import Changes, RecordStore, VectorIndex

__all__ = ["Stores"]

log = logging.getLogger("agentmem_plugins")
PRECOMPUTED = "precomputed"


class Stores:
    def __init__(self, config: MemoryConfig, embedder: Embedder | None) -> None:
        if config.uses_local_path:
            config.path.mkdir(parents=True, exist_ok=True)
        self.records = RecordStore(config.resolved_sql_url, synchronous=config.sqlite_synchronous)
        self.vectors = VectorIndex(
            config.resolved_vector_uri, ann_min_rows=config.ann_min_rows, ann_ef=config.ann_ef
        )
        meta = self.records.get_meta()
        self.embedder_name = embedder.name if embedder is not None else PRECOMPUTED
        self.dim: int | None = embedder.dim if embedder is not None else None
        self._check_embedder(meta)
        self._session = uuid.uuid4().hex
        crashed = "open_session" in meta
        self.records.set_meta({"open_session": self._session})
        if crashed:
            log.warning("the store was not closed cleanly; reconciling the vector index")
            self.reconcile()

    def _check_embedder(self, meta: dict[str, str]) -> None:
        stored_name, stored_dim = meta.get("embedder_name"), meta.get("embedder_dim")
        if stored_name is None:
            return self._record_embedder()
        if stored_name != self.embedder_name or (
            self.dim is not None and stored_dim and int(stored_dim) != self.dim
        ):
            raise EmbedderMismatchError(
                f"this store holds vectors of embedder {stored_name!r} (dim {stored_dim}); it "
                f"was opened with {self.embedder_name!r} (dim {self.dim}). Open it with the "
                "same embedder, or use a new path for the new embedder"
            )
        if stored_dim:
            self.dim = int(stored_dim)

    def _record_embedder(self) -> None:
        values = {"embedder_name": self.embedder_name}
        if self.dim is not None:
            values["embedder_dim"] = str(self.dim)
        self.records.set_meta(values)

    def check_dim(self, dim: int) -> None:
        """Called for every vector written; the first one fixes an unknown dimension."""
        if self.dim is None:
            self.dim = dim
            self._record_embedder()
        elif dim != self.dim:
            raise InvalidInputError(
                f"vector has {dim} dimensions but this store's embedding space has {self.dim}"
            )

    async def write(self, changes: Changes, io: Callable[..., Awaitable[Any]]) -> None:
        """Both sides in parallel; on a vector-side failure SQL stays the truth."""
        sql, vec = await asyncio.gather(
            io(self.records.apply, changes),
            io(self.vectors.apply, changes),
            return_exceptions=True,
        )
        if isinstance(sql, BaseException):
            if not isinstance(vec, BaseException) and changes.rows:
                # undo what only the vector side took; reconcile would trim it anyway
                await io(self.vectors.delete, [r["id"] for r in changes.rows])
            raise sql
        if isinstance(vec, BaseException):
            log.warning("vector write failed (%s); rebuilding those rows from SQL", vec)
            await io(self.reconcile)

    def maintain(self) -> None:
        self.vectors.maintain()
        self.records.optimize()

    def reconcile(self) -> dict[str, int]:
        """Make the vector side match SQL exactly; returns what was repaired."""
        truth = self.records.revisions()
        index = self.vectors.revisions()
        stale = [i for i, rev in index.items() if truth.get(i) != rev]
        missing = [i for i, rev in truth.items() if index.get(i) != rev]
        if stale:
            self.vectors.delete(stale)
        for start in range(0, len(missing), 4096):
            rows = self.records.full_rows(missing[start : start + 4096])
            self.vectors.add(rows, None)
        if stale or missing:
            log.warning(
                "reconciled: %d stale vector rows removed, %d re-added", len(stale), len(missing)
            )
        return {"removed": len(stale), "added": len(missing)}

    def close(self) -> None:
        try:
            self.records.optimize()
            self.records.delete_meta("open_session")  # a clean close: no reconcile next time
        finally:
            self.vectors.close()
            self.records.close()

    def reset(self) -> None:
        self.records.reset()
        self.vectors.reset()

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

from ._config import MemoryConfig
from ._errors import EmbedderMismatchError, InvalidInputError
from ._io import IO
from .embeddings import Embedder
from .storage import Changes, PgVectorIndex, RecordStore, open_vector_backend

__all__ = ["Stores"]

log = logging.getLogger("agentmem_plugins")
PRECOMPUTED = "precomputed"


class Stores:
    def __init__(self, config: MemoryConfig, embedder: Embedder | None) -> None:
        if config.uses_local_path:
            config.path.mkdir(parents=True, exist_ok=True)
        self.records = RecordStore(config.resolved_sql_url, synchronous=config.sqlite_synchronous)
        try:
            self.vectors = open_vector_backend(config)
        except BaseException:
            self.records.close()
            raise
        # pgvector in the records' database: one transaction per batch (issue 9), so the
        # two sides cannot diverge and a crash leaves nothing to reconcile
        self.atomic: PgVectorIndex | None = None
        if isinstance(self.vectors, PgVectorIndex) and (
            config.resolved_vector_uri == config.resolved_sql_url
        ):
            self.atomic = self.vectors
        try:
            meta = self.records.get_meta()
            self.embedder_name = embedder.name if embedder is not None else PRECOMPUTED
            self.dim: int | None = embedder.dim if embedder is not None else None
            self._check_embedder(meta)
            self._check_vector_dim()
        except BaseException:
            self.records.close()
            self.vectors.close()
            raise
        self._session = uuid.uuid4().hex
        crashed = "open_session" in meta
        self.records.set_meta({"open_session": self._session})
        if crashed and self.atomic is None:
            log.warning("the store was not closed cleanly; reconciling the vector index")
            self.reconcile()
        elif self.atomic is not None and self.atomic.dim is None and self._holds_records():
            log.warning("building the pgvector table from the records")
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

    def _holds_records(self) -> bool:
        return self.records.count({}, None, include_invalidated=True) > 0

    def _check_vector_dim(self) -> None:
        if self.dim is not None and self.vectors.dim is not None and self.vectors.dim != self.dim:
            raise EmbedderMismatchError(
                f"vector_uri holds {self.vectors.dim}-dimensional vectors, but this store's "
                f"embedding space has {self.dim}. Point vector_uri at this store's vectors, "
                "or at a new (empty) place"
            )

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

    async def write(self, changes: Changes, io: IO) -> None:
        """Both sides in parallel; on a vector-side failure SQL stays the truth."""
        if self.atomic is not None:  # both sides in one transaction: all or nothing
            await io(self.records.apply, changes, self.atomic.apply_in)
            return
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
            self.vectors.close()

    def reset(self) -> None:
        if self.atomic is not None:
            self.records.reset(self.atomic.reset_in)
            return
        self.records.reset()
        self.vectors.reset()

"""Invariant 5: one embedding space per store, and one store per vector index.

``store_meta`` records the embedder's name and dimension and the store's id. The first
opener of a new store writes them (``claim_meta``: insert if absent, read back), so
processes opening one new store at once all check themselves against the same record.
A store opened with ``embedder="none"`` learns its dimension from the first vector
written. The vector side is stamped with the store id when its table is made, and an
index stamped by another store is refused (``storage/_owner.py``).
"""

from __future__ import annotations

import uuid

from ._errors import EmbedderMismatchError, InvalidInputError
from .storage import RecordStore
from .storage._backend import VectorBackend

__all__ = ["EmbeddingSpace"]


class EmbeddingSpace:
    def __init__(
        self, records: RecordStore, vectors: VectorBackend, embedder_name: str, dim: int | None
    ) -> None:
        self._records = records
        self._vectors = vectors
        self.embedder_name = embedder_name
        self.dim = dim

    def open(self, meta: dict[str, str]) -> None:
        """Check (or, for a new store, record) the embedder, then bind the vector side."""
        self._check_embedder(meta)
        if self.dim is not None and self._vectors.dim not in (None, self.dim):
            raise EmbedderMismatchError(
                f"vector_uri holds {self._vectors.dim}-dimensional vectors, but this store's "
                f"embedding space has {self.dim}. Point vector_uri at this store's vectors, "
                "or at a new (empty) place"
            )
        store_id = (
            meta.get("store_id")
            or self._records.claim_meta({"store_id": uuid.uuid4().hex})["store_id"]
        )
        self._vectors.bind(store_id)  # refuses another store's vectors

    def check_dim(self, dim: int) -> None:
        """Called for every vector written; the first one fixes an unknown dimension."""
        if self.dim is None:
            self.dim = dim
            try:
                self._check_embedder(self._record())
            except EmbedderMismatchError:
                self.dim = None
                raise
        elif dim != self.dim:
            raise InvalidInputError(
                f"vector has {dim} dimensions but this store's embedding space has {self.dim}"
            )

    def _check_embedder(self, meta: dict[str, str]) -> None:
        unrecorded = "embedder_name" not in meta or (
            self.dim is not None and "embedder_dim" not in meta
        )
        if unrecorded and meta.get("embedder_name", self.embedder_name) == self.embedder_name:
            meta = self._record()  # a process opening beside us may have been first
        stored_name, stored_dim = meta.get("embedder_name"), meta.get("embedder_dim")
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

    def _record(self) -> dict[str, str]:
        """Record this embedder where nothing is recorded yet; returns what is recorded."""
        values = {"embedder_name": self.embedder_name}
        if self.dim is not None:
            values["embedder_dim"] = str(self.dim)
        return self._records.claim_meta(values)

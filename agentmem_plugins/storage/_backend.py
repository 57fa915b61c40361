"""The vector side's interface, and picking a backend from ``vector_uri``.

The Stores layer (``_store.py``) and the read path (``_search.py``) call only these
methods, so LanceDB (:class:`VectorIndex`, the embedded default) and pgvector
(:class:`PgVectorIndex`) are interchangeable below them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol

import numpy as np

from .._config import MemoryConfig
from ._changes import Changes
from ._pgvector import PgVectorIndex, is_postgres_url
from ._vector_search import VectorsOf
from ._vectors import VectorIndex

__all__ = ["VectorBackend", "open_vector_backend"]


class VectorBackend(Protocol):
    """Vectors plus full text of the memories, keyed by id at a revision (``rev``)."""

    @property
    def dim(self) -> int | None: ...

    def apply(self, changes: Changes) -> None: ...

    def add(self, rows: Sequence[dict[str, Any]], vectors: np.ndarray | None) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def search_vector(
        self,
        vector: np.ndarray,
        scope: dict[str, str],
        k: int,
        *,
        rows: dict[str, dict[str, Any]] | None = None,  # see VectorIndex.search_vector
    ) -> list[tuple[str, float]]: ...

    def search_text(self, text: str, scope: dict[str, str], k: int) -> list[tuple[str, float]]: ...

    def upsert(self, rows: Sequence[dict[str, Any]], vectors: np.ndarray | None) -> None: ...

    def revisions(self) -> dict[str, str]: ...

    def id_revs(self) -> list[tuple[str, str]]: ...

    def maintain(self) -> float | None: ...  # seconds until upkeep has more to do

    def count(self) -> int: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...

    def bind(self, store_id: str) -> None: ...


def open_vector_backend(config: MemoryConfig, vectors_of: VectorsOf) -> VectorBackend:
    """pgvector for a PostgreSQL ``vector_uri``; LanceDB (a folder or object storage) else,
    which re-scores its candidates with the records' vectors (``vectors_of``)."""
    uri = config.resolved_vector_uri
    if is_postgres_url(uri):
        return PgVectorIndex(
            uri,
            ann_min_rows=config.ann_min_rows,
            ann_ef=config.ann_ef,
            vector_type=config.pg_vector_type,
            language=config.pg_fulltext_language,
            records_here=uri == config.resolved_sql_url,
        )
    return VectorIndex(
        uri,
        ann_min_rows=config.ann_min_rows,
        ann_ef=config.ann_ef,
        storage_options=config.storage_options,
        fts_options=config.fulltext_options,
        vectors_of=vectors_of,
        read_consistency=timedelta(seconds=config.read_consistency_s),
    )

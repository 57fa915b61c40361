"""Persistence: SQL records (source of truth) and the LanceDB vector index."""

from ._backend import VectorBackend, open_vector_backend
from ._changes import Changes, utc
from ._pgvector import PgVectorIndex, is_postgres_url
from ._record_reads import to_item
from ._records import RecordStore
from ._vector_search import scope_where, sql_literal
from ._vectors import VectorIndex

__all__ = [
    "Changes",
    "PgVectorIndex",
    "RecordStore",
    "VectorBackend",
    "VectorIndex",
    "is_postgres_url",
    "open_vector_backend",
    "scope_where",
    "sql_literal",
    "to_item",
    "utc",
]

"""Persistence: SQL records (source of truth) and the LanceDB vector index."""

from ._changes import Changes, utc
from ._records import RecordStore, to_item
from ._vectors import VectorIndex, scope_where, sql_literal

__all__ = ["Changes", "RecordStore", "VectorIndex", "scope_where", "sql_literal", "to_item", "utc"]

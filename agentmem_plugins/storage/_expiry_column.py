"""Add the ``memories.expires_at`` column to a store made before memories could expire.

``create_all`` creates missing tables but never alters existing ones, so a store
written by the previous version lacks the column (and its index). This is a single,
idempotent step run on every open; it belongs with the schema-version migrations.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["add_expires_at_column_if_missing"]


def add_expires_at_column_if_missing(engine: Engine) -> bool:
    """Add ``memories.expires_at`` and its index when missing; ``True`` if it did."""
    columns = {c["name"] for c in sa.inspect(engine).get_columns("memories")}
    if "expires_at" in columns:
        return False
    stamp = "TIMESTAMP WITHOUT TIME ZONE" if engine.dialect.name == "postgresql" else "DATETIME"
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # several processes may open an old store at once
            conn.exec_driver_sql(
                f"ALTER TABLE memories ADD COLUMN IF NOT EXISTS expires_at {stamp}"
            )
        else:  # SQLite: the writer engine opens with BEGIN IMMEDIATE, so this is serialised
            found = conn.exec_driver_sql("PRAGMA table_info(memories)").fetchall()
            if any(row[1] == "expires_at" for row in found):
                return False
            conn.exec_driver_sql(f"ALTER TABLE memories ADD COLUMN expires_at {stamp}")
        conn.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_memories_expires_at ON memories (expires_at)"
        )
    return True

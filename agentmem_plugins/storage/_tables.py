"""SQLModel tables: memories (the source of truth), history, pending work, store meta,
and the coordination of several processes (sessions, write intents, leases)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "HistoryRow",
    "IntentRow",
    "LeaseRow",
    "MemoryRow",
    "MetaRow",
    "PendingRow",
    "SessionRow",
]

_METADATA = JSON().with_variant(JSONB(), "postgresql")


class MemoryRow(SQLModel, table=True):
    """One memory. ``vector`` (float32 bytes) lets the vector index be rebuilt from SQL alone."""

    __tablename__ = "memories"
    __table_args__ = (
        # invalid_at in the index: counting a scope's valid rows (every search does) is
        # answered from the index alone, without a table lookup per row
        Index("ix_memories_scope", "user_id", "agent_id", "run_id", "invalid_at", "created_at"),
        Index("ix_memories_agent", "agent_id", "created_at"),
        Index("ix_memories_run", "run_id", "created_at"),
        # "has anything expired by now?" (every read asks) and the expiry sweep
        Index("ix_memories_expires_at", "expires_at"),
    )

    id: str = Field(primary_key=True, max_length=512)
    text: str = Field(sa_column=Column(Text, nullable=False))
    user_id: str | None = Field(default=None, max_length=512)
    agent_id: str | None = Field(default=None, max_length=512)
    run_id: str | None = Field(default=None, max_length=512)
    # SQLModel reserves the attribute name ``metadata``: the column keeps the name, the
    # attribute is ``meta``.
    # JSONB on PostgreSQL (GIN-indexed, see _schema.py), JSON text elsewhere
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column("metadata", _METADATA))
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    rev: str = Field(max_length=32)
    # Naive UTC everywhere: what SQLite and PostgreSQL TIMESTAMP both round-trip.
    created_at: datetime = Field(sa_column=Column(DateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime, nullable=False))
    observed_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    invalid_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    invalid_reason: str | None = Field(default=None, sa_column=Column(Text))
    # when the memory expires (None: never); SQL-only, the vector side does not hold it
    expires_at: datetime | None = Field(default=None, sa_column=Column(DateTime))


class HistoryRow(SQLModel, table=True):
    __tablename__ = "history"
    __table_args__ = (Index("ix_history_memory", "memory_id", "created_at"),)

    # sequential, so bulk inserts append to the B-tree instead of landing at random
    id: int | None = Field(default=None, primary_key=True)
    memory_id: str = Field(max_length=512)
    event: str = Field(max_length=16)
    old_text: str | None = Field(default=None, sa_column=Column(Text))
    new_text: str | None = Field(default=None, sa_column=Column(Text))
    actor: str | None = Field(default=None, max_length=512)
    role: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(DateTime, nullable=False))


class PendingRow(SQLModel, table=True):
    __tablename__ = "pending_work"

    id: str = Field(primary_key=True, max_length=64)
    user_id: str | None = Field(default=None, max_length=512)
    agent_id: str | None = Field(default=None, max_length=512)
    run_id: str | None = Field(default=None, max_length=512)
    messages: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column("metadata", JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    created_at: datetime = Field(sa_column=Column(DateTime, nullable=False))
    #: the session working on it: the one that recorded a hand-over, or that claimed the
    #: item to replay it; ``None`` once parked (free for any process to replay)
    session_id: str | None = Field(default=None, max_length=64)


class MetaRow(SQLModel, table=True):
    __tablename__ = "store_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class SessionRow(SQLModel, table=True):
    """One open store handle (a process, or several opens in one). A clean close deletes it;
    a crashed one is found by a stale heartbeat, or a pid gone on the same host."""

    __tablename__ = "store_sessions"

    id: str = Field(primary_key=True, max_length=32)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = Field(sa_column=Column(DateTime, nullable=False))
    heartbeat_at: datetime = Field(sa_column=Column(DateTime, nullable=False))


class IntentRow(SQLModel, table=True):
    """The ids one batch changes, committed with the records, dropped once the vector side
    holds them: the unfinished intents of crashed sessions are all that repair reads."""

    __tablename__ = "write_intents"
    __table_args__ = (Index("ix_write_intents_session", "session_id"),)

    id: str = Field(primary_key=True, max_length=32)
    session_id: str = Field(max_length=32)
    ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime, nullable=False))


class LeaseRow(SQLModel, table=True):
    """A named lease (``maintenance``): one holder at a time until ``expires_at``."""

    __tablename__ = "store_leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=32)
    expires_at: datetime = Field(sa_column=Column(DateTime, nullable=False))

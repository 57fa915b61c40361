"""The SQL schema of a store: created, versioned and migrated here, in one place.

The version lives in ``store_meta`` under ``schema_version``. A store made before versions
were recorded has no such key and is version 1. Opening a store runs every migration from
its version to :data:`SCHEMA_VERSION` in one transaction (PostgreSQL DDL is transactional;
SQLite runs it under ``BEGIN IMMEDIATE``), serialised across processes by an advisory lock
on PostgreSQL and by the write lock on SQLite, so two processes opening an old store at
once migrate it once. A store written by a newer version of the project is refused with
the upgrade to run; nothing is changed.

History (add a step to ``_MIGRATIONS`` and bump ``SCHEMA_VERSION`` for every change):

1. memories, history, pending_work, store_meta (no version recorded).
2. PostgreSQL: ``memories.metadata`` becomes JSONB with a GIN index (``jsonb_path_ops``),
   so metadata equality filters are answered from the index. SQLite: no change.
3. ``memories.expires_at`` (memory expiry, TTL) and its index.
4. ``pending_work.session_id``: the live session working on an item (a hand-over it
   recorded, or a replay it claimed), so ``retry_pending`` in another process leaves it be.

The vectors of the pgvector backend (``memory_vectors``) are derived data, rebuilt from
the records on open when the table is missing (see ``storage/_pgvector.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from .._errors import ConfigError
from ._tables import HistoryRow, IntentRow, LeaseRow, MemoryRow, MetaRow, PendingRow, SessionRow

__all__ = ["SCHEMA_VERSION", "VERSION_KEY", "connection_error", "ensure_schema", "stored_version"]

SCHEMA_VERSION = 4
VERSION_KEY = "schema_version"
META = MetaRow.__table__  # type: ignore[attr-defined]
_TABLES = [
    MemoryRow.__table__,  # type: ignore[attr-defined]
    HistoryRow.__table__,  # type: ignore[attr-defined]
    PendingRow.__table__,  # type: ignore[attr-defined]
    META,
    # sessions, write intents and leases of the processes sharing a store (issue 8):
    # created on every open when missing, so they need no migration step
    SessionRow.__table__,  # type: ignore[attr-defined]
    IntentRow.__table__,  # type: ignore[attr-defined]
    LeaseRow.__table__,  # type: ignore[attr-defined]
]
# pg_advisory_xact_lock key for schema changes ("agmS"); any 64-bit constant would do
_PG_SCHEMA_LOCK = 0x61676D53


def _to_v2(conn: Connection, dialect: str) -> None:
    if dialect != "postgresql":
        return
    conn.exec_driver_sql(
        "ALTER TABLE memories ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb"
    )
    _pg_metadata_index(conn)


def _pg_metadata_index(conn: Connection) -> None:
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_memories_metadata ON memories "
        "USING gin (metadata jsonb_path_ops)"
    )


def _to_v3(conn: Connection, dialect: str) -> None:
    stamp = "TIMESTAMP WITHOUT TIME ZONE" if dialect == "postgresql" else "DATETIME"
    columns = {c["name"] for c in sa.inspect(conn).get_columns("memories")}
    if "expires_at" not in columns:
        conn.exec_driver_sql(f"ALTER TABLE memories ADD COLUMN expires_at {stamp}")
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_memories_expires_at ON memories (expires_at)"
    )


def _to_v4(conn: Connection, dialect: str) -> None:
    columns = {c["name"] for c in sa.inspect(conn).get_columns("pending_work")}
    if "session_id" not in columns:
        conn.exec_driver_sql("ALTER TABLE pending_work ADD COLUMN session_id VARCHAR(64)")


# _MIGRATIONS[v] takes a store from version v to v + 1
_MIGRATIONS: dict[int, Callable[[Connection, str], None]] = {1: _to_v2, 2: _to_v3, 3: _to_v4}


def connection_error(exc: BaseException, url: str) -> ConfigError:
    """A clear error for a database that cannot be reached (wrong host, down, bad login)."""
    where = sa.engine.make_url(url).render_as_string(hide_password=True)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError(
        f"cannot connect to the database {where}: {first}. Check that the server is running "
        "and reachable, and the URL (host, port, user, password, database)"
    )


def stored_version(conn: Connection) -> int | None:
    """The recorded schema version; ``None`` for an empty database, 1 for an unversioned store."""
    if not sa.inspect(conn).has_table("memories"):
        return None
    if not sa.inspect(conn).has_table(META.name):
        return 1
    value = conn.execute(sa.select(META.c.value).where(META.c.key == VERSION_KEY)).scalar()
    return 1 if value is None else int(value)


def ensure_schema(engine: Engine, dialect: str) -> int:
    """Create or migrate the schema behind ``engine``; returns the version found before."""
    if dialect != "sqlite":
        try:
            with engine.connect():
                pass
        except sa.exc.OperationalError as exc:
            url = engine.url.render_as_string(hide_password=False)
            raise connection_error(exc, url) from None
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_SCHEMA_LOCK})")
        found = stored_version(conn)
        if found is not None and found > SCHEMA_VERSION:
            raise ConfigError(
                f"this store has schema version {found}, written by a newer "
                f"agentmem-plugins; this one knows versions up to {SCHEMA_VERSION}. "
                "Upgrade: pip install -U agentmem-plugins"
            )
        SQLModel.metadata.create_all(conn, tables=_TABLES)
        if found is None:  # a new store: the tables above are already the latest layout
            if dialect == "postgresql":
                _pg_metadata_index(conn)
        else:
            for version in range(found, SCHEMA_VERSION):
                _MIGRATIONS[version](conn, dialect)
        if found != SCHEMA_VERSION:
            conn.execute(META.delete().where(META.c.key == VERSION_KEY))
            conn.execute(META.insert().values(key=VERSION_KEY, value=str(SCHEMA_VERSION)))
        return SCHEMA_VERSION if found is None else found

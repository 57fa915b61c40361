"""``RecordStore``: the SQL side (any SQLAlchemy URL), the source of truth.

Blocking by design: the core calls it from worker threads. SQLite runs in WAL mode with
a busy timeout; writes open with ``BEGIN IMMEDIATE`` (a deferred BEGIN that later
upgrades to a write lock fails with SQLITE_BUSY even with a timeout). Bulk writes use
SQLAlchemy Core ``executemany``, one transaction per batch.

This module holds the engines, the store meta and the pending work; the methods on the
memories and their history come from mixins: :mod:`._record_writes` (a batch's changes
and write intents), :mod:`._record_reads` (fetch, list, count, history) and
:mod:`._record_vectors` (the vectors of a scope); :mod:`._record_columns` holds the
tables they share.
"""

from __future__ import annotations

import builtins  # RecordStore.list shadows the builtin in its annotations
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from ._checkpoints import Checkpointer
from ._journal import Journal
from ._record_columns import META, P, _chunks
from ._record_reads import RecordReads
from ._record_vectors import RecordVectors
from ._record_writes import RecordWrites
from ._schema import ensure_schema

__all__ = ["RecordStore"]

log = logging.getLogger("agentmem_plugins")


def _journal_mode_wal(cursor: Any, wait_s: float = 30.0) -> None:
    """``PRAGMA journal_mode=WAL``, retried while SQLite answers "database is locked".
    The switch of a new database needs an exclusive lock, and SQLite reports that busy at
    once instead of calling its busy handler when another connection holds a lock
    that could deadlock. That happened when four processes opened one new store at the
    same moment (1 run in ~30 of the test that does it)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


#: Reading connections read the database file through a memory map of up to this many
#: bytes (SQLite's own ceiling, ~2 GiB) instead of a ``pread`` and a copy per page: the
#: pages are the OS page cache's, shared by every connection and process, where each
#: connection's page cache would hold its own copies. A large-scope search reads its
#: candidates' vectors at random places in the table: 27 rows of a 1M-row store, 1.71 ->
#: 0.79 ms (issue 14, BENCHMARKS.md). WAL pages are still read from the log; the store
#: never truncates the database file (no VACUUM), the one case a map handles badly.
_READ_MMAP_BYTES = 2**31 - 2**16


class RecordStore(RecordReads, RecordVectors, RecordWrites):
    def __init__(self, url: str, *, synchronous: str = "NORMAL") -> None:
        self.url = url
        self.dialect = sa.engine.make_url(url).get_backend_name()
        self._write = self._engine(url, synchronous, immediate=True)
        self._read = self._engine(url, synchronous, immediate=False)
        #: SQLite: the WAL checkpoints, run beside the writes (see _checkpoints)
        self.checkpointer: Checkpointer | None = None
        if self.dialect == "sqlite":
            checkpointer = self.checkpointer = Checkpointer(
                self._read.raw_connection, self._lend_writer
            )
            event.listen(self._write, "checkin", lambda *_: checkpointer.wrote())
        ensure_schema(self._write, self.dialect)  # creates, or migrates an older store
        #: called (from the reading thread) when a read finds expired rows not yet swept
        self.on_expired: Callable[[], None] | None = None
        self._version_conn: Any = None  # data_version(): a read connection of its own
        self._version_lock = threading.Lock()
        #: sessions, write intents and leases of the processes sharing this store
        self.journal = Journal(self._write, self._read)

    def _engine(self, url: str, synchronous: str, *, immediate: bool) -> Engine:
        if self.dialect != "sqlite":
            return sa.create_engine(url, pool_pre_ping=True)
        # One writing connection per process: SQLite lets one writer in at a time, and a
        # second connection of this process waiting for that lock polls it in sleeps of
        # up to 100 ms (its busy handler). The pool's queue wakes the next writer at once.
        one = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 300} if immediate else {}
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **one)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            _journal_mode_wal(cur)
            cur.execute(f"PRAGMA synchronous={synchronous}")
            if immediate:  # the writing connection: checkpoints run beside it (_checkpoints)
                cur.execute("PRAGMA wal_autocheckpoint=0")
            else:  # reading connections map the file (see _READ_MMAP_BYTES)
                cur.execute(f"PRAGMA mmap_size={_READ_MMAP_BYTES}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def _lend_writer(self, queue: bool) -> Any | None:
        """The writing connection, for the checkpointer: if no write holds it now, else
        ``None``; with ``queue``, once the writes in front of it are done."""
        if not queue and self._write.pool.checkedout():  # type: ignore[attr-defined]
            return None
        return self._write.raw_connection()

    def optimize(self) -> None:
        """Refresh the query planner's statistics (cheap; SQLite's advice for long-lived
        connections). Without them SQLite may pick a scope index over a primary key."""
        if self.dialect == "sqlite":
            with self._write.connect() as conn:
                conn.exec_driver_sql("PRAGMA analysis_limit=1000")
                conn.exec_driver_sql("PRAGMA optimize")

    def data_version(self) -> int | str | None:
        """A value that stays equal while nothing is committed to the database, read on
        a connection of its own that never writes (the scope cache's check before each
        use). ``None``: no version this time (do not cache).

        SQLite: ``PRAGMA data_version``, which changes whenever any other connection
        (any process) commits. PostgreSQL: the current snapshot (``xmin:xmax:in
        progress``), in autocommit so no transaction is left open. A commit either ends a
        transaction the earlier snapshot listed as in progress, or one whose id was
        given out after it (``xmax`` moved), so equal snapshots mean nothing was committed
        in between. Any transaction that wrote anywhere in the database changes it, so
        the cache errs on the side of reading again."""
        with self._version_lock:
            try:
                if self._version_conn is None:
                    conn = self._read.raw_connection()
                    if self.dialect != "sqlite":
                        conn.driver_connection.autocommit = True  # type: ignore[union-attr]
                    self._version_conn = conn
                cursor = self._version_conn.cursor()
                if self.dialect == "sqlite":
                    return int(cursor.execute("PRAGMA data_version").fetchone()[0])
                if self.dialect != "postgresql":
                    return None
                cursor.execute("SELECT pg_current_snapshot()::text")
                return str(cursor.fetchone()[0])
            except Exception:  # e.g. the server dropped the connection: a new one next
                self._close_version_conn()
                if self.dialect == "sqlite":
                    raise
                return None

    def _close_version_conn(self) -> None:
        conn, self._version_conn = self._version_conn, None
        if conn is not None:
            try:
                if self.dialect != "sqlite":  # in autocommit: never back into the pool
                    conn.invalidate()
                conn.close()
            except Exception:  # already broken
                log.debug("closing the data-version connection failed", exc_info=True)

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        with self._version_lock:
            self._close_version_conn()
        self._write.dispose()
        self._read.dispose()

    # --- store meta --------------------------------------------------------------------

    def get_meta(self) -> dict[str, str]:
        with self._read.connect() as conn:
            return {k: v for k, v in conn.execute(sa.select(META.c.key, META.c.value))}

    def claim_meta(self, values: dict[str, str]) -> dict[str, str]:
        """Store each of ``values`` whose key is not stored yet, and return what is stored
        for those keys afterwards. Two processes opening one new store both claim; the
        first commit wins and the other reads the winner's values back to check them."""
        insert = (sqlite_insert if self.dialect == "sqlite" else pg_insert)(META)
        with self._write.begin() as conn:
            conn.execute(
                insert.on_conflict_do_nothing(index_elements=[META.c.key]),
                [{"key": k, "value": v} for k, v in values.items()],
            )
            rows = conn.execute(
                sa.select(META.c.key, META.c.value).where(META.c.key.in_(list(values)))
            )
            return {k: v for k, v in rows}

    def delete_meta(self, key: str) -> None:
        with self._write.begin() as conn:
            conn.execute(META.delete().where(META.c.key == key))

    # --- pending work (DESIGN invariant 4) ---------------------------------------------

    def add_pending(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record ``rows`` of pending work in one transaction."""
        with self._write.begin() as conn:
            conn.execute(P.insert(), list(rows))

    def update_pending(self, pending_id: str, *, error: str | None, attempts: int) -> None:
        """Park an item again after a failed replay: free for any process to replay."""
        with self._write.begin() as conn:
            conn.execute(
                P.update()
                .where(P.c.id == pending_id)
                .values(error=error, attempts=attempts, session_id=None)
            )

    def delete_pending(self, pending_ids: Sequence[str]) -> None:
        """Clear the pending records ``pending_ids`` in one transaction."""
        with self._write.begin() as conn:
            for chunk in _chunks(list(pending_ids)):
                conn.execute(P.delete().where(P.c.id.in_(chunk)))

    def list_pending(self) -> builtins.list[dict[str, Any]]:
        with self._read.connect() as conn:
            return [r._asdict() for r in conn.execute(sa.select(P).order_by(P.c.created_at))]

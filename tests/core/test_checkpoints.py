"""SQLite's WAL checkpoints run beside the writes (storage/_checkpoints.py): the writing
connection never checkpoints inside a commit, the store's thread does, and a steady
stream of writes still starts the log over."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from agentmem_plugins import AsyncMemory
from agentmem_plugins.storage._checkpoints import Checkpointer
from agentmem_plugins.storage._records import _READ_MMAP_BYTES, RecordStore


def _frames(db: Path) -> tuple[int, int]:
    """(frames in the log, frames copied) as a PASSIVE checkpoint on a new connection
    finds them."""
    conn = sqlite3.connect(db)
    try:
        _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return frames, copied
    finally:
        conn.close()


def test_reading_connections_map_the_file(tmp_path: Path) -> None:
    """A search's candidates lie at random places in the table: the readers map it (the
    OS page cache's pages, no copy per connection); the writing connection does not."""
    store = RecordStore(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with store._read.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == _READ_MMAP_BYTES
        with store._write.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == 0
    finally:
        store.close()


def test_the_writing_connection_leaves_checkpoints_to_the_store_thread(tmp_path: Path) -> None:
    store = RecordStore(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with store._write.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        with store._read.connect() as conn:  # readers keep SQLite's default
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        store.claim_meta({"a": "1"})
        checkpointer = store.checkpointer
        assert checkpointer is not None
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints >= 1
        assert store.get_meta()["a"] == "1"
    finally:
        store.close()
    from agentmem_plugins.storage._record_columns import META

    sql = f"SELECT value FROM {META.name} WHERE key = 'a'"
    found = sqlite3.connect(tmp_path / "r.db").execute(sql)
    assert found.fetchone() == ("1",)


def _writing(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


class _Writer:
    """The one writing connection, lent the way the store's pool lends it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        import threading

        self.conn = conn
        self.lock = threading.Lock()
        self.lent_queued = 0

    def lend(self, queue: bool) -> _Lent | None:
        """The connection if no write holds it, else ``None``; with ``queue``, once free
        (as the store lends it)."""
        if not self.lock.acquire(blocking=queue):
            return None
        self.lent_queued += queue
        return _Lent(self)


class _Lent:
    def __init__(self, owner: _Writer) -> None:
        self._owner = owner

    def cursor(self) -> sqlite3.Cursor:
        return self._owner.conn.cursor()

    def close(self) -> None:
        self._owner.lock.release()


@pytest.mark.parametrize("gap_s", [0.0, 0.002])
def test_a_steady_stream_of_writes_still_starts_the_log_over(tmp_path: Path, gap_s: float) -> None:
    """A checkpoint beside a steady stream of writes never finds the log all copied when
    a write begins (the log then grows without end: 500 MB in a 100k-row ingest). Past
    ``restart_frames`` the thread checkpoints on the writing connection too, when no
    write holds it; writes back to back (``gap_s`` 0) never leave it free, and past
    ``QUEUE_AFTER`` times as many frames the thread queues for it."""
    db = tmp_path / "w.db"
    writer = _Writer(_writing(db))
    writer.conn.execute("CREATE TABLE t (x BLOB)")
    checkpointer = Checkpointer(
        lambda: sqlite3.connect(db, check_same_thread=False),
        writer.lend,
        delay_s=0.005,
        restart_frames=64,
    )
    blob = b"x" * 8192  # two or three pages a row
    written = 0
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            with writer.lock:
                writer.conn.execute("BEGIN IMMEDIATE")
                writer.conn.executemany("INSERT INTO t VALUES (?)", [(blob,)] * 8)
                writer.conn.execute("COMMIT")
            written += 8 * len(blob)
            checkpointer.wrote()
            if gap_s:
                time.sleep(gap_s)
    finally:
        checkpointer.close()
    log_bytes = (tmp_path / "w.db-wal").stat().st_size
    assert checkpointer.checkpoints > 2
    # without the restart pass the log holds every byte written (measured: 1.0x); with
    # it, its peak is what piled up before the thread got the writing connection: 0.1-0.25x
    # here, more on a loaded machine (a quarter was the line, and flaky at 2 cores)
    assert log_bytes < written / 2, (log_bytes, written)
    frames, copied = _frames(db)
    assert frames == copied  # closing checkpointed the rest
    assert writer.conn.execute("SELECT count(*) FROM t").fetchone()[0] == written // len(blob)


async def test_a_store_checkpoints_while_it_ingests(tmp_path: Path) -> None:
    async with AsyncMemory(path=tmp_path / "m", embedder="hash") as memory:
        for batch in range(8):
            await memory.add_many(
                [{"text": f"fact {batch}-{i} " + "word " * 50, "user_id": "u"} for i in range(300)]
            )
        checkpointer = memory._stores.records.checkpointer
        assert checkpointer is not None
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints >= 1
        assert await memory.count(user_id="u") == 2400


def test_close_does_not_wait_for_a_held_writing_connection(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    writer = _Writer(_writing(db))
    writer.conn.execute("CREATE TABLE t (x INTEGER)")
    writer.conn.execute("INSERT INTO t VALUES (1)")
    checkpointer = Checkpointer(
        lambda: sqlite3.connect(db, check_same_thread=False),
        writer.lend,
        delay_s=0.005,
        restart_frames=1,  # every pass wants the writing connection
    )
    with writer.lock:  # a write holds it throughout
        checkpointer.wrote()
        time.sleep(0.05)  # the thread found it held and keeps looking
        started = time.monotonic()
        checkpointer.close()
        assert time.monotonic() - started < 2
    assert checkpointer.checkpoints >= 1


def test_the_thread_lives_on_when_lending_the_writing_connection_fails(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    writer = _Writer(_writing(db))
    writer.conn.execute("CREATE TABLE t (x INTEGER)")
    writer.conn.execute("INSERT INTO t VALUES (1)")
    failures = []

    def lend(queue: bool) -> _Lent | None:
        if not failures:
            failures.append(queue)
            raise TimeoutError("QueuePool limit reached, connection timed out")
        return writer.lend(queue)

    checkpointer = Checkpointer(
        lambda: sqlite3.connect(db, check_same_thread=False),
        lend,
        delay_s=0.005,
        restart_frames=1,
    )
    checkpointer.wrote()
    deadline = time.monotonic() + 5
    while checkpointer.checkpoints < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    checkpointer.close()
    assert failures and checkpointer.checkpoints >= 3  # went on after the failure

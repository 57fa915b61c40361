"""SQLite's WAL checkpoints, run beside the writes instead of inside them.

By default SQLite checkpoints inside the commit that takes its write-ahead log past
1,000 pages: the committing connection copies the log into the database file and syncs
that file before the commit returns. A process has one writing connection
(:class:`~agentmem_plugins.storage._records.RecordStore`), so every write queued for it
waited for those copies too: during a bulk ingest of 1,000-row batches the connection
was held 116 ms at p90 instead of 72, and a single ``add`` waited 128 ms at p50 instead
of 77 (issue 14, BENCHMARKS.md). Its writing connection therefore runs with
``wal_autocheckpoint=0``, and a thread of the store runs the same PASSIVE checkpoint on
a connection of its own shortly after writes: the copy and the sync happen outside any
transaction. PASSIVE is what the automatic checkpoint does: it copies what it can
without waiting for readers or writers.

The log starts over only when a write transaction begins with all of it copied and no
reader in it. Under a steady stream of writes a checkpoint beside them never sees that
moment (a batch commits while it copies): the log grew to 500 MB in a 100k-row ingest.
So once the log holds ``restart_frames`` frames, the thread also takes the writing
connection when no write holds it, and checkpoints there in RESTART mode, waiting up to
``RESTART_WAIT_MS`` for readers to leave the log. It queues for the connection only once
the log passes ``QUEUE_AFTER`` times that (writes waiting behind it would wait for it
too). Only the frames committed since its own pass are left to copy (with time-ordered
ids a 1,000-row batch is a few hundred pages: 20 ms at p50), and the next write starts
the log over, as with SQLite's own checkpoints.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Checkpointer"]

log = logging.getLogger("agentmem_plugins")

RESTART_WAIT_MS = 50
#: past this many times ``restart_frames``, the thread queues for the writing connection
#: like a write (back-to-back writes may never leave it free)
QUEUE_AFTER = 8
BUSY_TIMEOUT_MS = 30_000  # the connections' own (_records)


class Checkpointer:
    """Checkpoints the WAL ``delay_s`` after a write (once for the writes of that
    interval) on a connection from ``connect``, in a daemon thread, until :meth:`close`;
    past ``restart_frames`` frames in the log, once more on the writing connection that
    ``writer(queue)`` lends when no write holds it (``None`` otherwise: tried again
    shortly) or, with ``queue``, once the writes in front of it are done, so that the log
    starts over."""

    def __init__(
        self,
        connect: Callable[[], Any],
        writer: Callable[[bool], Any],
        *,
        delay_s: float = 0.2,
        restart_frames: int = 1000,
    ) -> None:
        self._connect = connect
        self._writer = writer
        self._delay_s = delay_s
        self._restart_frames = restart_frames
        self._due = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.checkpoints = 0  # for tests and benchmarks

    def wrote(self) -> None:
        """A write transaction ended: checkpoint soon (cheap; called on every write)."""
        if threading.current_thread() is self._thread:
            return  # the thread's own use of the writing connection
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closing.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="agentmem-wal-checkpoint", daemon=True
                    )
                    self._thread.start()
        self._due.set()

    def close(self) -> None:
        """Stop the thread after a last checkpoint of what was written."""
        with self._lock:
            self._closing.set()
            thread = self._thread
        self._due.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn = self._connect()
        try:
            while True:
                self._due.wait()
                # gather the writes of the next moment into one checkpoint
                self._closing.wait(self._delay_s)
                self._due.clear()
                frames = self._checkpoint(conn)
                try:
                    if frames >= self._restart_frames and not self._restart(frames):
                        self._due.set()  # a write holds the connection: look again shortly
                except Exception as exc:  # e.g. the pool's timeout: the thread must live on
                    log.warning("WAL checkpoint on the writing connection failed: %s", exc)
                    self._due.set()
                if self._closing.is_set():
                    return  # the last connection to close checkpoints the rest
        finally:
            conn.close()

    def _restart(self, frames: int) -> bool:
        """The RESTART checkpoint on the writing connection, taken if no write holds it
        (queued for once the log holds ``frames`` past ``QUEUE_AFTER`` times
        ``restart_frames``); ``False`` if it was not free."""
        writing = self._writer(frames >= QUEUE_AFTER * self._restart_frames)
        if writing is None:
            return False
        try:
            self._checkpoint(writing, "RESTART")
        finally:
            writing.close()
        return True

    def _checkpoint(self, conn: Any, mode: str = "PASSIVE") -> int:
        """A checkpoint on ``conn``; the frames in the log (0 if it failed). RESTART waits
        (``RESTART_WAIT_MS`` at most, then gives up until next time) for readers of the log
        to finish, so that the next write starts it over."""
        try:
            cursor = conn.cursor()
            try:
                if mode == "RESTART":
                    cursor.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
                try:
                    busy, frames, copied = cursor.execute(
                        f"PRAGMA wal_checkpoint({mode})"
                    ).fetchone()
                finally:
                    if mode == "RESTART":
                        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                log.debug(
                    "WAL checkpoint %s: busy %s, %s frames, %s copied", mode, busy, frames, copied
                )
            finally:
                cursor.close()
            self.checkpoints += 1
            return int(frames)
        except Exception as exc:  # the next one retries; SQLite's close checkpoints too
            log.debug("WAL checkpoint failed: %s", exc)
            return 0

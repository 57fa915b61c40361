"""The index worker: a child process that runs the upkeep of a large LanceDB table.

Why a process and not a thread. LanceDB runs its compute on one process-wide CPU pool
with as many threads as cores (``LANCE_CPU_THREADS``). An index build (or a compaction)
fills that pool, and every append in the same process, on any handle or connection,
waits for a free thread. Measured on 2 cores, 10-row appends every 50 ms while an
IVF_HNSW_SQ index was built over 30k rows: same process, p50 15 ms but p99 12.5 s (each
add waited for the whole 14 s build); build in another process, p99 137 ms, worst 281 ms;
the same process with ``LANCE_CPU_THREADS=8``, p99 143 ms. So not the GIL (the adding
thread ran Python all along), not the Writer's lock (maintenance never takes it), not a
table lock (a second connection in the same process stalled too), not the io thread
pool: the Lance CPU pool. A child process has its own pool, and runs at a lower CPU
priority (``nice`` 10) so on a busy machine the write path gets the cores first.

Protocol: one JSON line per request on stdin, one JSON line per reply on stdout. The
child exits when stdin closes, so it never outlives its parent for long.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
from datetime import timedelta
from typing import Any

from .._errors import AgentMemError

__all__ = ["IndexUpkeepError", "IndexWorker"]

log = logging.getLogger("agentmem_plugins")
NICE = 10
# not ``-m`` this module: the package imports it first, and runpy warns about that
_ENTRY = "from agentmem_plugins.storage._index_worker import _serve; _serve()"


class IndexUpkeepError(AgentMemError):
    """Index upkeep failed in the worker (the write path is unaffected; it is retried)."""


class IndexWorker:
    """The parent's handle on one worker process, started on first use."""

    def __init__(self, uri: str, storage_options: dict[str, Any] | None) -> None:
        self._request_base = {"uri": uri, "storage_options": storage_options or None}
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # one request at a time

    def upkeep(self, *, ann_min_rows: int, cleanup_older_than: timedelta) -> dict[str, Any]:
        request = {
            **self._request_base,
            "ann_min_rows": ann_min_rows,
            "cleanup_s": cleanup_older_than.total_seconds(),
        }
        with self._lock:
            proc = self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except (BrokenPipeError, OSError) as exc:
                self._reap()
                raise IndexUpkeepError(f"the index worker died ({exc})") from exc
            if not line:
                self._reap()
                raise IndexUpkeepError("the index worker exited during upkeep")
            reply = json.loads(line)
        if not reply.get("ok"):
            raise IndexUpkeepError(f"index upkeep failed in the worker: {reply.get('error')}")
        report: dict[str, Any] = reply["report"]
        return report

    def close(self) -> None:
        """Stop the worker now, abandoning any build in progress (its commit is atomic:
        an unfinished build leaves the table as it was)."""
        proc = self._proc
        if proc is None:
            return
        proc.kill()  # safe without the lock: the reader sees EOF
        self._reap()

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _ENTRY],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
            )
        return self._proc

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
            proc.wait()


def _serve() -> None:
    """The child's loop: one table handle per URI, one upkeep per request."""
    import lancedb

    from ._upkeep import upkeep
    from ._vectors import TABLE

    with contextlib.suppress(OSError):  # not permitted: run at the parent's priority
        os.nice(NICE)
    # replies go to a private copy of stdout; anything a library prints goes to stderr
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    tables: dict[str, Any] = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            uri = request["uri"]
            if uri not in tables:
                db = lancedb.connect(
                    uri,
                    storage_options=request["storage_options"],
                    read_consistency_interval=timedelta(0),
                )
                tables[uri] = db.open_table(TABLE)
            report = upkeep(
                tables[uri],
                ann_min_rows=request["ann_min_rows"],
                cleanup_older_than=timedelta(seconds=request["cleanup_s"]),
            )
            reply = {"ok": True, "report": report}
        except Exception as exc:  # reported to the parent, which logs and retries later
            tables.clear()
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()

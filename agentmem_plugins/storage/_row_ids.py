"""Memory ids by LanceDB row address, held in memory, so that an index search can return
row addresses alone.

Why: LanceDB's ANN search ends with row addresses; every column a query returns is read
afterwards, row by row, from the data files (a "take"). The ``id`` column alone cost 1.7
ms of a 100k-row search (16 probes: ``_distance`` with ``_rowid`` 4.6-4.8 ms, with ``id``
6.2-6.9 ms) and 2.5 ms at 1M (51 probes: 7.7-8.2 vs 10.6-10.7 ms; issue 14). The address
(``_rowid`` on a table without stable row ids: fragment id << 32 | offset) comes free with
the index's answer.

Why the map stays right: a row's address never changes and is never given to another
row while the table lives. Fragments are never rewritten in place (a delete marks rows
in a deletion file, compaction writes new fragments), and a new fragment takes an id
above every fragment the table has had. So the map only grows; it learns new fragments
by scanning ``_rowid >= (first unseen fragment) << 32``, which reads only those
fragments. Addresses it does not know are a miss: the search reads those candidates' ids
by address (``take_row_ids``: 10.1 ms for a 1M-row search against 7.7 through the map
and 8.1 with the ids from the query, a ``/tmp`` probe), and the map is refreshed in the
background.

What the map cannot see is a table dropped and made again (``reset()``, perhaps in
another process), whose fragment ids start over: the search checks the ids it maps
against the records (``plausible``) and clears the map when they do not fit.

This reads ``_rowid`` as a row address, which it is on a table without stable row ids
(LanceDB's default, 0.40). With stable row ids the map would still be right (scans and
searches report the same ``_rowid``), but every new row would look like an unknown
offset of a known "fragment" and cost a full scan.

Cost: about 40 bytes per row (the ids as one Arrow string array per fragment, offsets as
uint32), held only for a table with an ANN index and at most ``MAX_ROWS`` rows. After a
compaction the old fragments' entries stay until the map holds ``STALE_SHARE`` times the
table's rows; a full scan then drops them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["MAX_ROWS", "RowIds", "plausible"]

log = logging.getLogger("agentmem_plugins")

#: tables with more rows are searched with ids read by LanceDB (about 40 MB per 1M rows)
MAX_ROWS = 10_000_000
#: an exact cosine this far from the index's distance means the address maps to another
#: row. IVF_SQ's 8-bit codes were within 0.014 of the exact cosine at 100k and 1M rows
#: (100 questions x 50 rows each); LanceDB reports cosine distance as ``1 - cos`` or, from
#: the IVF_SQ index, as squared L2 of unit vectors (``2 - 2 cos``), so both are accepted.
SCORE_TOLERANCE = 0.05
#: the map holds this many times the table's rows (fragments compaction replaced): a
#: full scan drops the old ones
STALE_SHARE = 1.5
#: seconds after a search's lookup during which writes refresh the map at once
ACTIVE_S = 60.0
STALE_SLACK = 10_000  # rows, so that small tables are not read again for a few
_OFFSET = np.uint64(0xFFFFFFFF)


class RowIds:
    """Memory ids by row address for one LanceDB table; thread-safe."""

    def __init__(self, scan: Callable[[int | None], Any], rows: Callable[[], int]) -> None:
        # scan(first): ``id`` and ``_rowid`` of the rows with ``_rowid >= first`` (all: None)
        self._scan = scan
        self._rows = rows  # the table's live row count, read before a scan
        self._fragments: dict[int, tuple[np.ndarray, Any]] = {}  # offsets, ids (Arrow)
        self._next = 0  # fragments below this id are known
        self._held = 0
        self._ready = False
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._wanted = False
        self._busy = False  # a scan is running
        self._full = False  # the next scan reads the whole table
        self._generation = 0  # bumped by clear(): a scan begun before it is dropped
        self._idle_until = 0.0  # a table over MAX_ROWS is looked at again after this
        self._thread: threading.Thread | None = None
        self._closed = False
        self._used = -ACTIVE_S  # when a search last looked up addresses

    @property
    def ready(self) -> bool:
        """Whether a scan has filled the map (searches ask LanceDB for ids until then)."""
        return self._ready

    @property
    def active(self) -> bool:
        """Whether searches used the map in the last ``ACTIVE_S`` seconds: only then do
        writes refresh it at once (a bulk load nobody searches meanwhile pays nothing)."""
        return self._ready and time.monotonic() - self._used < ACTIVE_S

    @property
    def settled(self) -> bool:
        """Ready, with no scan running or asked for (tests wait for this)."""
        return self._ready and not (self._wanted or self._busy)

    def lookup(self, row_ids: np.ndarray) -> list[str] | None:
        """The ids at ``row_ids``; ``None`` when any is unknown, and then the map is
        refreshed in the background: incrementally for a fragment newer than it knows, by
        a full scan for an address it should have known (a table made again)."""
        self._used = time.monotonic()
        fragments, seen = self._fragments, self._next  # swapped whole, never edited
        addresses = np.asarray(row_ids, dtype=np.uint64)
        wanted = (addresses & _OFFSET).astype(np.uint32)  # same dtype: no array copies
        of = addresses >> np.uint64(32)
        out: list[Any] = [None] * len(addresses)
        for fragment in np.unique(of).tolist():
            known = fragments.get(fragment)
            if known is None:
                self.refresh_soon(full=fragment < seen)
                return None
            offsets, ids = known
            rows = np.flatnonzero(of == fragment)
            at = np.minimum(np.searchsorted(offsets, wanted[rows]), len(offsets) - 1)
            if not np.array_equal(offsets[at], wanted[rows]):
                self.refresh_soon(full=True)
                return None
            for row, found in zip(rows.tolist(), ids.take(at).to_pylist(), strict=True):
                out[row] = found
        return out

    def refresh_soon(self, *, full: bool = False) -> None:
        """Learn the table's new fragments (``full``: read the whole table again) on the
        map's thread, started on first use."""
        with self._lock:
            if self._closed or time.monotonic() < self._idle_until:
                return
            self._wanted = True
            self._full = self._full or full
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="agentmem-row-ids", daemon=True
                )
                self._thread.start()
            else:
                self._wake.notify()

    def clear(self) -> None:
        """Forget everything (the table was dropped, or its ids did not fit the records)."""
        with self._lock:
            self._fragments, self._next, self._held, self._ready = {}, 0, 0, False
            self._generation += 1

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not (self._wanted or self._closed):
                    self._wake.wait()
                if self._closed:
                    return
                self._wanted = False
                self._busy = True
            try:
                self._refresh()
            except Exception:  # searches fall back to ids from LanceDB; retried on demand
                log.warning("refreshing the row-address map failed", exc_info=True)
            finally:
                with self._lock:
                    self._busy = False

    def _refresh(self) -> None:
        live = self._rows()
        if live > MAX_ROWS:
            self.clear()
            self._idle_until = time.monotonic() + 60.0
            return
        with self._lock:
            full = self._full or not self._ready
            first = None if full else self._next
            self._full = False
            generation = self._generation
        table = self._scan(None if first is None else first << 32)
        found = _by_fragment(table)
        with self._lock:
            if self._closed or generation != self._generation:
                return
            fragments = {} if full else dict(self._fragments)
            fragments.update(found)
            self._fragments = fragments
            self._held = sum(len(offsets) for offsets, _ in fragments.values())
            self._next = max(fragments) + 1 if fragments else self._next
            self._ready = True
            if self._held > STALE_SHARE * live + STALE_SLACK:
                # rows compaction moved to new fragments are held twice: read it all again
                self._full = self._wanted = True


def _by_fragment(table: Any) -> dict[int, tuple[np.ndarray, Any]]:
    """A scan's rows as ``{fragment: (sorted offsets, ids in that order)}``."""
    if table.num_rows == 0:
        return {}
    addresses = table.column("_rowid").to_numpy()
    ids = table.column("id").combine_chunks()
    order = np.argsort(addresses, kind="stable")
    addresses = addresses[order]
    ids = ids.take(order)
    fragments = addresses >> np.uint64(32)
    cuts = np.flatnonzero(np.diff(fragments)) + 1
    out: dict[int, tuple[np.ndarray, Any]] = {}
    for start, end in zip([0, *cuts.tolist()], [*cuts.tolist(), len(addresses)], strict=True):
        offsets = (addresses[start:end] & _OFFSET).astype(np.uint32)
        out[int(fragments[start])] = (offsets, ids.slice(start, end - start))
    return out


def plausible(
    ids: list[str],
    distances: np.ndarray,
    vectors: dict[str, np.ndarray | None],
    exact: dict[str, float],
) -> bool:
    """Whether ids mapped from row addresses fit the records: most of them have a record
    (a delete in flight leaves a few without), and each one in scope scores, on its stored
    vector, what the index said of the row at its address."""
    if 2 * sum(1 for i in ids if i not in vectors) > len(ids):
        return False
    for i, distance in zip(ids, distances.tolist(), strict=True):
        score = exact.get(i)
        if score is None:
            continue
        if min(abs(score - (1.0 - distance)), abs(score - (1.0 - distance / 2))) > SCORE_TOLERANCE:
            return False
    return True

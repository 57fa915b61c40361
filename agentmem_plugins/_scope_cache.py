"""Small scopes' vectors kept in memory between searches, never staler than SQL.

A small scope (one user's memories) is searched exactly: its vectors are read from SQL
and scored with one matrix product. Measured on a 100k store (1,000 rows per user,
2 shared cores): the SQLite read is 5-7 ms, because a scope's rows are interleaved with
every other scope's and its 1,000 one-kilobyte vectors are 1,000 primary-key lookups;
scoring them in numpy is 0.04 ms. Kept here, a repeated search is a matrix-vector product.
On PostgreSQL the read is several round trips and the vectors' megabyte over the socket.

Validity: every lookup first reads a *database version* (``RecordStore.data_version``:
SQLite's ``PRAGMA data_version``, PostgreSQL's current snapshot, each on a connection of
its own; either changes whenever any connection of any process commits) and drops every
entry when it moved; an entry stores the version read *before* its rows were. So an
entry is never used after any commit, ours or another process's; under a steady stream
of writes the cache stays cold and search reads SQL as before.

The same goes for the verdict "this scope is larger than the exact-search bound", so a
search in a large scope does not count its rows again while nothing was written. Time
alone ends an entry too: one holding a memory with an expiry is dropped when the first
of them expires (else a search returned one hit fewer until the next write).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

__all__ = ["ScopeCache", "ScopeVectors"]

_ID_BYTES = 100  # rough per-id cost of the Python list of ids


@dataclass(frozen=True)
class ScopeVectors:
    """A scope's ids and unit-length vectors (rows of ``unit``; ``None`` when empty), or
    ``large``: the scope has more rows than the exact-search bound.

    ``expires_at``: the earliest expiry among the rows (naive UTC; ``None``: none
    expires); the entry is stale from then on, as after a write.
    """

    ids: list[str]
    unit: np.ndarray | None
    large: bool = False
    expires_at: datetime | None = None

    @property
    def nbytes(self) -> int:
        return (0 if self.unit is None else self.unit.nbytes) + _ID_BYTES * len(self.ids)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` with every row scaled to length 1 (zero rows stay zero), as float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0] = 1.0
    unit: np.ndarray = matrix / norms[:, None]
    return unit


class ScopeCache:
    """A least-recently-used map ``scope -> ScopeVectors`` bounded by ``max_bytes``."""

    def __init__(self, version: Callable[[], object | None], max_bytes: int) -> None:
        self._version = version
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[tuple[str, str], ...], ScopeVectors] = OrderedDict()
        self._bytes = 0
        self._seen: object | None = None

    def lookup(
        self, scope: dict[str, str], now: datetime
    ) -> tuple[ScopeVectors | None, object | None]:
        """The cached entry of ``scope`` (or ``None``: none, or one holding a row expired
        by ``now``) and the version to :meth:`store` a fresh read under; a ``None``
        version means: do not cache."""
        if self._max_bytes <= 0:
            return None, None
        version = self._version()
        if version is None:
            return None, None
        key = _key(scope)
        with self._lock:
            if version != self._seen:
                self._entries.clear()
                self._bytes = 0
                self._seen = version
                return None, version
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at is not None and entry.expires_at <= now:
                self._bytes -= self._entries.pop(key).nbytes
                entry = None
            if entry is not None:
                self._entries.move_to_end(key)
            return entry, version

    def store(self, scope: dict[str, str], version: object | None, entry: ScopeVectors) -> None:
        if version is None or entry.nbytes > self._max_bytes:
            return
        key = _key(scope)
        with self._lock:
            if version != self._seen:  # something was written since the read began
                return
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[key] = entry
            self._bytes += entry.nbytes
            self._evict()

    def _evict(self) -> None:
        while self._bytes > self._max_bytes and self._entries:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= dropped.nbytes


def _key(scope: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(scope.items()))

"""Ids for new memories, journalled before any batch uses them.

A batch of writer-generated ids writes SQL and the vector side in parallel (fast mode's
common case). Its ids must be in a committed write intent *before* the vector write
starts: a process killed after the vector commit but before the SQL commit would
otherwise leave vector rows nobody knows about. Journalling one intent per batch costs a
SQLite transaction per batch (fast mode's batches hold ~25-100 rows: -22% throughput).

So a session *reserves* ids in blocks: one intent holds a block of ids generated ahead
of use, committed inside an earlier batch's records transaction (or on its own when
none is ready: the first batch after opening). A batch whose ids all come from committed
blocks journals nothing of its own. The block's intent is finished once every id has been
handed out and the batches that used them have settled; a block whose batch failed on
the vector side is retired at once and handed to repair (``dirty``). A crash leaves the
open blocks to the next process, which rewrites their ids from SQL (deleting those SQL
does not hold): repair still costs what was in flight, at most two blocks per session.

Ids are UUIDv7 (RFC 9562) as 32 hex digits either way (:func:`memory_ids`): 74 random
bits keep them unguessable and unique across processes, and the leading 48-bit
millisecond time keeps each batch's ids next to each other in SQL's primary-key index.
All methods run under the caller's lock (the writer persists one batch at a time).
"""

from __future__ import annotations

import os
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ._journal import Intent

__all__ = ["IdReservations", "memory_ids"]


@dataclass
class _Block:
    intent: Intent
    left: int  # ids not handed out yet
    inflight: int = 0  # handed out, their batch not settled yet
    dirty: bool = False  # a batch using it failed on the vector side
    used: list[str] = field(default_factory=list)


_VARIANT = "89ab" * 4  # a hex digit -> the variant bits 10 and two of its own bits


def memory_ids(n: int) -> list[str]:
    """``n`` ids for new memories: UUIDv7 as 32 hex digits, the current millisecond first,
    then 74 random bits (one syscall).

    Why not random 128-bit ids (as before): SQL's primary-key index then takes every
    insert at a random leaf, so a 1,000-row batch dirtied a page per row, and SQLite
    wrote and checkpointed ~1,500 pages per batch. Ids that start with the time land
    together: in a 300k-row ingest with single adds beside it, ingest 5.6k -> 9.8k
    rows/s, the batch's transaction 79 -> 38 ms (p50), a single ``add`` p99 280 -> 121
    ms (issue 14, BENCHMARKS.md)."""
    prefix = f"{time.time_ns() // 1_000_000:012x}7"  # 48-bit ms, then the version
    raw = os.urandom(10 * n).hex()
    return [
        prefix + raw[i : i + 3] + _VARIANT[int(raw[i + 3], 16)] + raw[i + 4 : i + 19]
        for i in range(0, 20 * n, 20)
    ]


class IdReservations:
    def __init__(self, session_id: str, block_size: int = 2048) -> None:
        self.session_id = session_id
        self.block_size = block_size
        # committed blocks with ids not handed out yet, and where those start
        self._ready: deque[tuple[_Block, int]] = deque()
        self._blocks: list[_Block] = []  # committed blocks not yet finished
        self._owner: dict[str, _Block] = {}  # handed-out id -> its block, until settled
        self._pending: _Block | None = None  # reserved, its intent not committed yet

    def take(self, n: int) -> list[str]:
        """``n`` ids for new memories: reserved ones while the committed blocks last, then
        random ones (which the batch journals itself)."""
        out: list[str] = []
        while self._ready and len(out) < n:
            block, start = self._ready[0]
            ids = block.intent.ids[start : start + n - len(out)]
            if start + len(ids) == len(block.intent.ids):
                self._ready.popleft()
            else:
                self._ready[0] = (block, start + len(ids))
            block.left -= len(ids)
            block.inflight += len(ids)
            block.used.extend(ids)
            self._owner.update(dict.fromkeys(ids, block))
            out.extend(ids)
        return out + memory_ids(n - len(out)) if len(out) < n else out

    def held(self) -> set[str]:
        """The intent ids of this session's blocks (open in SQL while the session lives)."""
        pending = [self._pending] if self._pending is not None else []
        return {block.intent.id for block in [*self._blocks, *pending]}

    def covers(self, ids: Iterable[str]) -> bool:
        return all(i in self._owner for i in ids)

    def next_block(self, wanted: int = 0) -> Intent | None:
        """A new block to commit with the next records transaction, when the ready ids
        run low (``None`` otherwise, or when one is already on its way)."""
        ready = sum(len(block.intent.ids) - start for block, start in self._ready)
        if self._pending is not None or ready >= max(wanted, self.block_size // 2):
            return None
        size = max(self.block_size, 2 * wanted)
        intent = Intent(uuid.uuid4().hex, self.session_id, memory_ids(size))
        self._pending = _Block(intent, size)
        return intent

    def committed(self, intent: Intent | None) -> None:
        """``intent`` (from :meth:`next_block`) is in SQL: its ids may be handed out."""
        block = self._pending
        if intent is None or block is None or block.intent.id != intent.id:
            return
        self._blocks.append(block)
        self._ready.append((block, 0))
        self._pending = None

    def abandoned(self, intent: Intent | None) -> None:
        """``intent``'s transaction failed: nothing of it was committed."""
        block = self._pending
        if intent is not None and block is not None and block.intent.id == intent.id:
            self._pending = None

    def settle(self, ids: Sequence[str], *, ok: bool) -> tuple[list[str], dict[str, list[str]]]:
        """A batch of reserved ``ids`` is done (``ok``: both sides hold it). Returns the
        intents now finished and the dirty ones to repair, ``{intent id: its used ids}``."""
        failed: set[int] = set()
        for memory_id in ids:
            block = self._owner.pop(memory_id, None)
            if block is not None:
                block.inflight -= 1
                if not ok:  # retire the block now, so repair need not wait for its rest
                    block.dirty, block.left = True, 0
                    failed.add(id(block))
        if failed:
            self._ready = deque(p for p in self._ready if id(p[0]) not in failed)
        return self._release()

    def forget(self) -> tuple[list[str], dict[str, list[str]]]:
        """Give up the ids not handed out yet (at close, or when this session was taken
        for a crashed one and its blocks repaired by another process); returns what
        :meth:`settle` does."""
        self._ready.clear()
        self._pending = None
        for block in self._blocks:
            block.left = 0
        return self._release()

    def _release(self) -> tuple[list[str], dict[str, list[str]]]:
        finished: list[str] = []
        dirty: dict[str, list[str]] = {}
        keep: list[_Block] = []
        for block in self._blocks:
            if block.left or block.inflight:
                keep.append(block)
            elif block.dirty:
                dirty[block.intent.id] = block.used
            else:
                finished.append(block.intent.id)
        self._blocks = keep
        return finished, dirty

"""The write path: coalesce requests into micro-batches, embed, persist in parallel.

Two stages joined by a one-slot queue, so embedding batch N+1 overlaps persisting
batch N::

    submit() -> [input queue] -> collect + embed -> [1 slot] -> persist (SQL || LanceDB)

There are two such lanes. Small requests of new memories (at most ``SMALL_REQUEST_ROWS``
upserts, no caller-given ids: an agent's single ``add``) take the small lane; everything
else (bulk ``add_many`` batches, updates, deletes, anything naming an id) takes the bulk
lane. The lanes persist concurrently, so a single ``add`` never waits for a 1,000-row bulk
batch to be written (issue 14: p99 521 ms -> see BENCHMARKS.md). They cannot conflict:
small-lane rows have fresh random ids that nobody else knows before the write is
acknowledged, and every request that names an id stays in the one bulk lane, in order.

Every request's future resolves only after its rows are committed in SQL together with
a write intent (``Stores.write``), so an acknowledged write survives a kill -9: if the
process dies before the vector side holds the rows, the next process to open or maintain
the store finds the dead session and rewrites exactly those ids from SQL.

Upkeep and the expiry sweep run beside the lanes, on the schedule in
:mod:`._upkeep_schedule` (``Writer.upkeep``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _expiry
from ._embedding_runner import EmbeddingRunner
from ._errors import AgentMemError, StoreClosedError
from ._io import IO
from ._requests import SMALL_REQUEST_ROWS, Upsert, WriteRequest, plan
from ._time import now_utc
from ._types import MemoryEvent
from ._upkeep_schedule import UpkeepSchedule
from .storage import Changes

__all__ = ["SMALL_REQUEST_ROWS", "Upsert", "WriteRequest", "Writer", "now_utc"]

log = logging.getLogger("agentmem_plugins")


@dataclass(slots=True)
class _Batch:
    """Requests persisted together, the rows they add and the ids they name."""

    requests: list[WriteRequest]
    rows: int = 0
    ids: set[str] = field(default_factory=set)

    def add(self, request: WriteRequest, ids: set[str]) -> None:
        self.requests.append(request)
        self.rows += len(request.upserts)
        self.ids |= ids


class _Lane:
    """One collect -> embed -> persist pipeline; its lock is held while it persists."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = asyncio.Lock()
        self.input: asyncio.Queue[WriteRequest] = asyncio.Queue()
        self.ready: asyncio.Queue[_Batch] = asyncio.Queue(maxsize=1)
        self.carry: WriteRequest | None = None
        # the batch in ``ready`` that the persist stage has not taken yet: later requests
        # join it rather than queue behind it
        self.waiting: _Batch | None = None

    def join_waiting(self, batch: _Batch, max_rows: int) -> bool:
        """Add ``batch`` (collected and embedded) to the batch waiting in ``ready``, if
        it fits and names none of its ids (a later request on the same id must see the
        earlier one's result: it goes in a later batch)."""
        waiting = self.waiting
        if waiting is None or waiting.rows + batch.rows > max_rows or batch.ids & waiting.ids:
            return False
        waiting.requests += batch.requests
        waiting.rows += batch.rows
        waiting.ids |= batch.ids
        return True

    async def hand_over(self, batch: _Batch) -> None:
        await self.ready.put(batch)
        self.waiting = batch

    async def take(self) -> _Batch:
        batch = await self.ready.get()
        if batch is self.waiting:  # nothing joins it from here on
            self.waiting = None
        return batch


class _AllLanes:
    """``async with writer.lock``: no lane persists inside (reset, check). Lane locks are
    always taken in the same order, so this never deadlocks with a lane."""

    def __init__(self, lanes: list[_Lane]) -> None:
        self._lanes = lanes

    async def __aenter__(self) -> None:
        taken: list[asyncio.Lock] = []
        try:
            for lane in self._lanes:
                await lane.lock.acquire()
                taken.append(lane.lock)
        except BaseException:
            for lock in reversed(taken):
                lock.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        for lane in reversed(self._lanes):
            lane.lock.release()


class Writer:
    """Owns the batching pipeline; one per store."""

    def __init__(
        self,
        *,
        store: Any,  # _store.Stores: records, vectors, dim bookkeeping
        runner: EmbeddingRunner,
        io: IO,
        upkeep_io: IO,
        max_rows: int,
        max_wait_s: float,
        maintain_every: int,
    ) -> None:
        self._store = store
        self._runner = runner
        self._io = io
        self._max_rows = max_rows
        self._max_wait_s = max_wait_s
        self._bulk = _Lane("bulk")
        self._small = _Lane("small")
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight = 0
        self._idle: asyncio.Event | None = None
        self._closed = False
        #: index upkeep and the expiry sweep, beside the lanes
        self.upkeep = UpkeepSchedule(
            store=store,
            io=io,
            upkeep_io=upkeep_io,
            maintain_every=maintain_every,
            submit=self.submit,
        )
        self.lock = _AllLanes([self._bulk, self._small])  # excludes persistence (reset, check)

    # --- public ------------------------------------------------------------------------

    async def submit(self, request: WriteRequest) -> list[MemoryEvent]:
        if self._closed:
            raise StoreClosedError("this memory is closed; open a new one")
        self._start()
        assert self._idle is not None
        request.future = asyncio.get_running_loop().create_future()
        self._inflight += 1
        self._idle.clear()
        lane = self._small if request.is_small() else self._bulk
        await lane.input.put(request)
        return await request.future

    async def drain(self) -> None:
        """Wait until every submitted request is settled (and the last revision check)."""
        if self._idle is not None:
            await self._idle.wait()
        await self._store.settled()

    async def close(self) -> None:
        await self.drain()
        self._closed = True
        self.upkeep.close()
        self._store.vectors.close()  # abandon a long index build rather than wait for it
        await self.upkeep.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # --- stages ------------------------------------------------------------------------

    def _start(self) -> None:
        if self._tasks:
            return
        self._idle = asyncio.Event()
        self._idle.set()
        for lane in (self._bulk, self._small):
            self._tasks += [
                asyncio.create_task(self._collect_loop(lane), name=f"agentmem-embed-{lane.name}"),
                asyncio.create_task(self._persist_loop(lane), name=f"agentmem-persist-{lane.name}"),
            ]

    async def _collect_loop(self, lane: _Lane) -> None:
        while True:
            batch = await self._collect(lane)
            try:
                await self._embed(batch.requests)
            except Exception as exc:  # the whole batch shares one embed call
                self._settle(batch.requests, exc)
                continue
            if not lane.join_waiting(batch, self._max_rows):
                await lane.hand_over(batch)

    async def _collect(self, lane: _Lane) -> _Batch:
        first = lane.carry or await lane.input.get()
        lane.carry = None
        batch = _Batch([])
        batch.add(first, first.explicit_ids())
        waited = False
        while batch.rows < self._max_rows:
            try:
                request = lane.input.get_nowait()
            except asyncio.QueueEmpty:
                if waited or len(batch.requests) == 1 or self._max_wait_s <= 0:
                    break
                waited = True  # callers are arriving together: give the rest a moment
                await asyncio.sleep(self._max_wait_s)
                continue
            ids = request.explicit_ids()
            if ids & batch.ids:  # same id twice in one batch: keep their order across batches
                lane.carry = request
                break
            batch.add(request, ids)
        return batch

    async def _embed(self, batch: list[WriteRequest]) -> None:
        todo = [u for r in batch for u in r.upserts if u.vector is None]
        if not todo:
            return
        vectors = await self._runner.documents([u.text for u in todo])
        for upsert, vector in zip(todo, vectors, strict=True):
            upsert.vector = vector

    async def _persist_loop(self, lane: _Lane) -> None:
        while True:
            batch = await lane.take()
            try:
                async with lane.lock:
                    await self._persist(batch)
            except Exception as exc:
                self._settle(batch.requests, exc)

    def _settle(self, batch: list[WriteRequest], exc: BaseException | None = None) -> None:
        for request in batch:
            if request.future is not None and not request.future.done():
                request.future.set_exception(exc or AgentMemError("write was not applied"))
        self._inflight -= len(batch)
        if self._inflight == 0 and self._idle is not None:
            self._idle.set()

    # --- persistence -------------------------------------------------------------------

    async def _persist(self, collected: _Batch) -> None:
        batch, ids = collected.requests, collected.ids  # the ids were gathered in _collect
        existing = await self._io(self._store.records.existing, list(ids)) if ids else {}
        now = _expiry.utc_now()  # the one clock expiry is judged by (tests move it)
        rev = uuid.uuid4().hex[:16]
        changes = Changes()
        vectors: list[np.ndarray] = []
        accepted: list[tuple[WriteRequest, list[MemoryEvent]]] = []
        # ids for new memories, for the whole batch at once (reserved ones: _reservations)
        fresh = iter(self._store.new_ids(sum(u.id is None for r in batch for u in r.upserts)))
        for request in batch:
            try:
                events = plan(
                    request,
                    existing,
                    changes,
                    vectors,
                    now,
                    rev,
                    fresh,
                    self._store.space.check_dim,
                )
            except AgentMemError as exc:
                assert request.future is not None
                request.future.set_exception(exc)
                continue
            accepted.append((request, events))
        self._store.unused_ids(list(fresh))  # those of requests refused above
        if vectors:
            changes.vectors = np.stack(vectors).astype(np.float32, copy=False)
        changes.generated_ids_only = not (changes.replace_ids or changes.delete_ids) and all(
            u.id is None for request, _ in accepted for u in request.upserts
        )
        if changes.rows or changes.delete_ids or changes.invalidations or changes.expiries:
            await self._store.write(changes, self._io)
            if changes.touches_vectors():
                self.upkeep.committed()
        for request, events in accepted:
            assert request.future is not None
            if not request.future.done():
                request.future.set_result(events)
        self._settle(batch)

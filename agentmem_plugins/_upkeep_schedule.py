"""When the background work beside the write path runs: vector-side upkeep (compaction,
ANN index builds, old-version cleanup: ``Stores.maintain``) and the expiry sweep.

Upkeep runs one run at a time:
- every ``maintain_every`` commits that touch the vector side;
- ``IDLE_UPKEEP_S`` after the last write when fewer commits came since the last run;
- when a run left work for later (``maintain`` returns the seconds), if nothing is
  written meanwhile;
- after a failure, with a back-off, writes or none.

Each run sweeps expired memories first. Reads that find expired rows ask for a sweep too
(:meth:`UpkeepSchedule.request_sweep`, from any thread).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ._io import IO
from ._requests import WriteRequest
from ._types import MemoryEvent

__all__ = ["IDLE_UPKEEP_S", "UPKEEP_RETRY_MAX_S", "UPKEEP_RETRY_S", "UpkeepSchedule"]

log = logging.getLogger("agentmem_plugins")
#: a failed maintenance run is tried again this much later, writes or none, doubled after
#: each further failure up to UPKEEP_RETRY_MAX_S (a store whose upkeep keeps failing
#: logs it every few minutes, not every few seconds)
UPKEEP_RETRY_S = 5.0
UPKEEP_RETRY_MAX_S = 300.0
#: upkeep runs this long after the last write when fewer than ``maintain_every`` commits
#: came since the last run: a bulk load of 60k rows in one ``add_many`` (59 commits) left
#: 59 fragments and no ANN index, and every search scanned the table (210 ms) until 5 more
#: writes came (issue 14)
IDLE_UPKEEP_S = 5.0


class UpkeepSchedule:
    """The writer's background work; one per store, on the store's event loop."""

    def __init__(
        self,
        *,
        store: Any,  # _store.Stores: maintain(), records.expired_ids()
        io: IO,
        upkeep_io: IO,  # a thread of its own: an upkeep may wait on a build
        maintain_every: int,
        submit: Callable[[WriteRequest], Awaitable[list[MemoryEvent]]],
    ) -> None:
        self._store = store
        self._io = io
        self._upkeep_io = upkeep_io
        self._maintain_every = maintain_every
        self._submit = submit
        self.commits = 0  # commits that touched the vector side
        self.closed = False
        self._maintenance: asyncio.Task[None] | None = None
        self._sweep: asyncio.Task[None] | None = None
        #: upkeep the last run left for later (a worn index on a table not yet quiet)
        self._follow_up: asyncio.TimerHandle | None = None
        self._failures = 0  # in a row
        #: the loop this memory runs on (set by the owner), for :meth:`request_sweep`
        self.loop: asyncio.AbstractEventLoop | None = None

    def committed(self) -> None:
        """A commit touched the vector side: upkeep every ``maintain_every`` of them, and
        once the writes stop."""
        self.commits += 1
        if self.commits % self._maintain_every == 0:
            self.start()
        elif not self._follow_up_pending():
            self._follow_up_in(IDLE_UPKEEP_S)

    def start(self) -> None:
        """Run upkeep now, unless a run is going."""
        if self.closed:
            return
        if self._maintenance is None or self._maintenance.done():
            self._maintenance = asyncio.create_task(self._maintain(), name="agentmem-maintain")

    def pending(self) -> bool:
        """Whether upkeep is running or scheduled to run again (benchmarks wait for it)."""
        running = self._maintenance is not None and not self._maintenance.done()
        return running or self._follow_up_pending()

    async def wait(self) -> None:
        """Until the running upkeep and sweep (if any) are over."""
        tasks = [t for t in (self._maintenance, self._sweep) if t is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        """Nothing new starts; a scheduled run is cancelled (:meth:`wait` for one going)."""
        self.closed = True
        if self._follow_up is not None:
            self._follow_up.cancel()

    async def sweep_expired(self) -> int:
        """Delete every memory that has expired (``EXPIRE`` history events); how many."""
        swept = 0
        while ids := await self._io(self._store.records.expired_ids):
            events = await self._submit(WriteRequest(expirations=ids))
            swept += len(events)
            if len(ids) < 4096 or not events:
                break
        return swept

    def request_sweep(self) -> None:
        """Thread-safe: sweep expired memories soon, unless a sweep is running. Reads call
        it when they find expired rows: once those are gone, reads skip the expiry
        clause again (with it, index-only scope counts need a table lookup per row)."""
        loop = self.loop
        if loop is not None and not loop.is_closed() and not self.closed:
            loop.call_soon_threadsafe(self._start_sweep)

    def _start_sweep(self) -> None:
        if self.closed or (self._sweep is not None and not self._sweep.done()):
            return
        self._sweep = asyncio.create_task(self._sweep_quietly(), name="agentmem-expire")

    async def _sweep_quietly(self) -> None:
        try:
            await self.sweep_expired()
        except Exception:  # a later read or maintenance run tries again
            log.exception("expiry sweep failed; will retry later")

    async def _maintain(self) -> None:
        await self._sweep_quietly()
        try:
            again = await self._upkeep_io(self._store.maintain)
        except Exception as exc:  # upkeep must never fail a write; the next run tries again
            if self.closed:  # interrupted by close(): expected
                log.info("vector index maintenance stopped by close (%s)", exc)
            else:
                log.exception("vector index maintenance failed; will retry later")
                # also when nothing more is written: an idle store would otherwise keep
                # what the failed run left (385k unindexed rows after a 1M-row load)
                delay = UPKEEP_RETRY_S * 2**self._failures
                self._failures += 1
                self._follow_up_in(min(delay, UPKEEP_RETRY_MAX_S))
            return
        self._failures = 0
        if again is not None:
            # e.g. an index worn by a bulk load, to retrain once the load is over: without
            # this an idle store would keep it until its next writes
            self._follow_up_in(again)

    def _follow_up_in(self, seconds: float) -> None:
        """Upkeep in ``seconds`` if nothing is written meanwhile (writes bring their own,
        every ``maintain_every`` commits); else look again as much later."""
        if self.closed:
            return
        if self._follow_up is not None:
            self._follow_up.cancel()
        commits = self.commits

        def due() -> None:
            self._follow_up = None  # ran: not pending any more (see _follow_up_pending)
            if self.commits == commits:
                self.start()
            else:
                self._follow_up_in(seconds)

        self._follow_up = asyncio.get_running_loop().call_later(seconds, due)

    def _follow_up_pending(self) -> bool:
        # not judged by the clock: a timer that is due but whose callback the busy loop
        # has not run yet is still pending (a benchmark or test waiting for upkeep saw
        # neither a timer nor a run in that gap, and went on before upkeep ran)
        return self._follow_up is not None and not self._follow_up.cancelled()

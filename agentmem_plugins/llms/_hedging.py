"""How one LLM request goes out: within a per-store bound, hedged when it runs long.

A :class:`ConcurrencyLimit` bounds calls in flight per store (each ``AsyncMemory`` builds
one from ``MemoryConfig.llm_max_concurrency``; two stores in one process have two
bounds); :func:`~agentmem_plugins.llms._retry.call_json` holds a slot only while a
request is in flight, never during a backoff sleep. An optional :class:`LatencyHedge`
sends a copy of a request that runs past a percentile of recent latencies and takes
whichever answers first (:func:`send`): the tail of a hung request then costs about the
percentile, not the client timeout. A request sent before the percentile is known (a
store's first calls) is hedged once it is. A copy goes into a free concurrency slot or
the limit's hedge room, never waiting for one; a copy that fails transiently is sent
again after the retry wait, and one that runs long too gets a copy of its own, while the
first request keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from .._errors import ConfigError, LLMTransientError
from ._protocol import ChatMessage, ChatModel

__all__ = ["ConcurrencyLimit", "LatencyHedge", "ResendWait", "hedge_room_for", "send"]

#: ``(copies sent so far, Retry-After or None) -> seconds`` before a failed copy goes again
ResendWait = Callable[[int, "float | None"], float]


def hedge_room_for(max_in_flight: int, hedge_room: int | None) -> int:
    """Hedged copies allowed beside ``max_in_flight`` calls: ``hedge_room`` as given, or
    by default an eighth of ``max_in_flight``, at least one."""
    return max(1, max_in_flight // 8) if hedge_room is None else hedge_room


class ConcurrencyLimit:
    """At most ``max_in_flight`` LLM calls at once (``async with limit.slot(since): ...``),
    and beside them at most ``hedge_room`` hedged copies (:meth:`hedge_slot`).

    One per store (from ``MemoryConfig.llm_max_concurrency`` and ``llm_hedge_room``),
    shared by every call. The room of its own is what lets a copy go out when every slot
    is busy, which is exactly when a hung request costs most: it holds its slot for the
    whole client timeout (issue 13: with 100 users on 64 slots, 1% of turns took 2.7 s).

    A free slot goes to the waiting call that started first (``since``), not to the one
    that queued first: a retry after a 429 or a 500 keeps the start of its call, so it
    does not queue again behind calls that began after it. A call's time is then its
    own requests and waits, not a second place at the back of the queue per fault, and
    the slowest of many users (who sets when a batch of agents is done) catches up.
    """

    def __init__(self, max_in_flight: int, hedge_room: int | None = None) -> None:
        if max_in_flight < 1:
            raise ConfigError("max_in_flight must be at least 1")
        if hedge_room is not None and hedge_room < 0:
            raise ConfigError("hedge_room must be >= 0 (0: hedged copies only in free slots)")
        self.max_in_flight = max_in_flight
        self.hedge_room = hedge_room_for(max_in_flight, hedge_room)
        self.in_flight = 0
        self.peak = 0
        self._hedges = 0  # copies in the room of their own
        self._free = max_in_flight  # ordinary slots nobody holds
        # waiting calls: (since, arrival, future); the future's result is a slot handed over
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def slot(self, since: float) -> AsyncIterator[None]:
        """Hold one ordinary slot; ``since`` (``time.monotonic()``): when the call began,
        its first request's time for every retry of it."""
        await self._acquire(since)
        try:
            yield
        finally:
            self.release()

    async def __aenter__(self) -> ConcurrencyLimit:
        await self._acquire(time.monotonic())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    async def hedge_slot(self) -> Callable[[], None] | None:
        """A slot for a hedged copy if one is free now: one of the ordinary slots, else
        one of the ``hedge_room``; ``None`` when neither is. Returns its release."""
        if self._free > 0:  # free and nobody waiting (release hands slots to waiters)
            self._free -= 1
            self._count(1)
            return self.release
        if self._hedges >= self.hedge_room:
            return None
        self._hedges += 1
        self._count(1)
        return self._release_hedge

    def release(self) -> None:
        """Give an ordinary slot back: to the waiting call that started first, if any."""
        self._count(-1)
        while self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():  # a cancelled waiter is skipped
                waiter.set_result(None)
                self._count(1)
                return
        self._free += 1

    async def _acquire(self, since: float) -> None:
        if self._free > 0:
            self._free -= 1
            self._count(1)
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (since, next(self._arrivals), waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot, then cancelled
                self.release()
            raise

    def _release_hedge(self) -> None:
        self._hedges -= 1
        self._count(-1)

    def _count(self, change: int) -> None:
        self.in_flight += change
        self.peak = max(self.peak, self.in_flight)


class LatencyHedge:
    """Hedge calls that run past the ``percentile`` of recent latencies.

    The latencies of the last ``window`` successful requests are kept; once there are
    ``min_samples``, a request still running after ``max(percentile, min_delay_s)``
    gets a second, identical request beside it, and the first successful answer wins
    (the other is cancelled). A request sent earlier is hedged that delay after the
    samples are in (:meth:`due`): a store's first wave of calls is where a hung request
    cost the whole client timeout (issue 13: 2.4-2.7 s of a 3.2 s run). One per
    store (``MemoryConfig.llm_hedge_percentile``). ``hedged`` and ``hedge_wins`` count
    the copies sent and those that answered first.
    """

    def __init__(
        self,
        percentile: float = 95.0,
        *,
        window: int = 512,
        min_samples: int = 20,
        min_delay_s: float = 0.02,
    ) -> None:
        if not 0 < percentile < 100:
            raise ConfigError(
                f"LatencyHedge percentile must be between 0 and 100 (exclusive), e.g. 95; "
                f"got {percentile!r}"
            )
        self.percentile = percentile
        self.min_samples = min_samples
        self.min_delay_s = min_delay_s
        self._samples: deque[float] = deque(maxlen=window)
        self._cached: float | None = None
        self._known: asyncio.Event | None = None  # set once there are min_samples
        self.hedged = 0
        self.hedge_wins = 0

    def record(self, seconds: float) -> None:
        self._samples.append(seconds)
        self._cached = None
        if self._known is not None and len(self._samples) >= self.min_samples:
            self._known.set()

    async def due(self, started: float) -> None:
        """Return when a request sent at ``started`` (``time.monotonic()``) should be
        hedged: the delay after it was sent, or, sent before the delay was known, the
        delay after it became known (the first latencies known are the fastest of their
        wave: the rest of that wave must not all be hedged at once)."""
        if self.delay() is None:
            if self._known is None:
                self._known = asyncio.Event()
            await self._known.wait()
            started = time.monotonic()
        delay = self.delay()
        assert delay is not None
        await asyncio.sleep(max(0.0, started + delay - time.monotonic()))

    def delay(self) -> float | None:
        """Seconds after which to hedge; ``None`` until enough latencies are known."""
        if len(self._samples) < self.min_samples:
            return None
        if self._cached is None:
            ordered = sorted(self._samples)
            rank = min(len(ordered) - 1, int(len(ordered) * self.percentile / 100))
            self._cached = max(ordered[rank], self.min_delay_s)
        return self._cached


async def _timed(
    model: ChatModel, conversation: list[ChatMessage], hedge: LatencyHedge | None
) -> str:
    started = time.monotonic()
    text = await model.complete(conversation, json_mode=True)
    if hedge is not None:
        hedge.record(time.monotonic() - started)
    return text


async def send(
    model: ChatModel,
    conversation: list[ChatMessage],
    limit: ConcurrencyLimit | None,
    hedge: LatencyHedge | None,
    resend_wait: ResendWait,
) -> str:
    """One request, hedged once it runs past ``hedge``'s delay (:func:`_hedged`);
    ``resend_wait(copies, retry_after)``: the wait before a failed copy is sent again."""
    if hedge is None:
        return await _timed(model, conversation, hedge)
    first: asyncio.Future[str] = asyncio.ensure_future(_timed(model, conversation, hedge))
    delay = hedge.delay()  # None: not known yet, so wait for it beside the request
    due = asyncio.ensure_future(hedge.due(time.monotonic())) if delay is None else None
    racing: set[asyncio.Future[Any]] = {first} if due is None else {first, due}
    try:
        await asyncio.wait(racing, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        first.cancel()
        raise
    finally:
        if due is not None:
            due.cancel()
    if first.done():
        return first.result()
    return await _hedged(first, model, conversation, limit, hedge, resend_wait)


async def _hedged(
    first: asyncio.Future[str],
    model: ChatModel,
    conversation: list[ChatMessage],
    limit: ConcurrencyLimit | None,
    hedge: LatencyHedge,
    resend_wait: ResendWait,
) -> str:
    """``first`` has run past the hedge delay: race copies of it until one answers.

    A copy goes now; another when the latest copy has itself run past the delay, or
    after ``resend_wait`` when it failed transiently (the caller's retry wait,
    ``Retry-After`` honoured); at most ``_MAX_COPIES`` in all. The
    requests already out keep running, and the first answer wins. Each copy takes a free
    slot or the limit's hedge room, never waiting for one (that slot would be taken from
    a request that has waited for it, tried: 10% fewer turns/s with each add waiting);
    with no room now, it looks again one hedge delay later. No room, a single copy that
    failed, or one that hung like the request it hedged: each used to leave the call
    waiting for the whole client timeout (issue 13: one such call set the end of a
    handed-over run, 2.7-3.8 s against 1.6-2.1). When every request has failed and no
    copy is due, the first error is raised (the caller's retry takes over)."""
    releases: dict[asyncio.Future[str], Callable[[], None]] = {}
    error: BaseException | None = None
    copies = 0
    next_copy: float | None = time.monotonic()  # when the next copy goes; None: none
    try:
        while True:
            if next_copy is not None and time.monotonic() >= next_copy:
                # if this copy runs long too, another; with no room now, look again then
                next_copy = time.monotonic() + (hedge.delay() or hedge.min_delay_s)
                release = _no_slot if limit is None else await limit.hedge_slot()
                if release is not None:  # never waits for room
                    copies += 1
                    hedge.hedged += 1
                    copy = asyncio.ensure_future(_timed(model, conversation, hedge))
                    releases[copy] = release
                    if copies >= _MAX_COPIES:
                        next_copy = None
            running = {t for t in (first, *releases) if not t.done()}
            if not running:
                assert error is not None
                raise error
            timeout = None if next_copy is None else max(0.0, next_copy - time.monotonic())
            done, _ = await asyncio.wait(
                running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                failure = task.exception()
                if failure is None:
                    hedge.hedge_wins += task is not first
                    return task.result()
                error = error or failure
                if task in releases:
                    releases.pop(task)()
                    if isinstance(failure, LLMTransientError) and copies < _MAX_COPIES:
                        after = getattr(failure, "retry_after", None)
                        wait = resend_wait(copies, after if _is_number(after) else None)
                        next_copy = time.monotonic() + wait
    finally:
        pending = [t for t in (first, *releases) if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for release in releases.values():
            release()


#: copies of one hedged request at most (a copy that fails transiently is sent again)
_MAX_COPIES = 3


def _no_slot() -> None:
    """The release of a copy sent without a concurrency limit."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

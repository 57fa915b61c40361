"""The writer runs the upkeep a run left for later (a worn index waiting for the table to
be quiet) by itself, when nothing is written meanwhile: an idle store retrains the index
a bulk load wore instead of keeping it until its next writes (issue 14)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentmem_plugins._writer import Writer


class _Records:
    def expired_ids(self) -> list[str]:
        return []


class _Store:
    """What the writer's maintenance touches: upkeep asks to run again once."""

    def __init__(self, again_s: float) -> None:
        self.records = _Records()
        self.calls: list[float] = []
        self._again_s = again_s

    def maintain(self) -> float | None:
        self.calls.append(time.monotonic())
        return self._again_s if len(self.calls) == 1 else None


async def _io(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def _writer(store: _Store) -> Writer:
    return Writer(
        store=store, runner=None, io=_io, upkeep_io=_io, max_rows=8, max_wait_s=0, maintain_every=1
    )  # type: ignore[arg-type]


async def _until_settled(writer: Writer, store: _Store, calls: int) -> None:
    deadline = time.monotonic() + 10
    while (len(store.calls) < calls or writer.upkeep.pending()) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await writer.upkeep.wait()


async def test_an_idle_writer_runs_the_upkeep_left_for_later() -> None:
    store = _Store(again_s=0.05)
    writer = _writer(store)
    writer.upkeep.start()
    await _until_settled(writer, store, calls=2)
    assert len(store.calls) == 2
    assert store.calls[1] - store.calls[0] >= 0.05
    assert not writer.upkeep.pending()  # the second run left nothing


async def test_writes_in_between_postpone_it() -> None:
    store = _Store(again_s=0.1)
    writer = _writer(store)
    writer.upkeep.start()
    await writer.upkeep.wait()
    await asyncio.sleep(0.05)
    writer.upkeep.commits += 1  # a write (they bring their own upkeep every maintain_every)
    await _until_settled(writer, store, calls=2)
    assert len(store.calls) == 2
    assert store.calls[1] - store.calls[0] >= 0.2  # looked again 0.1 s after the write


async def test_a_follow_up_due_but_not_yet_run_is_still_pending() -> None:
    # judged by the clock, the gap between a timer falling due and a busy loop running
    # its callback read as "nothing pending", and a caller waiting for upkeep went on
    store = _Store(again_s=0.01)
    writer = _writer(store)
    writer.upkeep.start()
    await writer.upkeep.wait()  # the first run asked for another in 0.01 s
    assert len(store.calls) == 1
    time.sleep(0.05)  # the loop is busy: the timer is due, its callback has not run
    assert writer.upkeep.pending()
    await _until_settled(writer, store, calls=2)
    assert len(store.calls) == 2 and not writer.upkeep.pending()


class _FailingOnce(_Store):
    def maintain(self) -> float | None:
        self.calls.append(time.monotonic())
        if len(self.calls) == 1:
            raise RuntimeError("lance error: Too many concurrent writers.")
        return None


async def test_a_failed_upkeep_is_tried_again_when_idle(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A run that failed (the index worker's commit lost to the appends for 30 s) left
    385k rows unindexed in a 1M-row load; with nothing more written, nothing retried."""
    import agentmem_plugins._upkeep_schedule as schedule

    monkeypatch.setattr(schedule, "UPKEEP_RETRY_S", 0.05)
    store = _FailingOnce(again_s=0.0)
    writer = _writer(store)
    writer.upkeep.start()
    await _until_settled(writer, store, calls=2)
    assert len(store.calls) == 2
    assert "maintenance failed" in caplog.text


def test_losing_a_commit_race_reads_as_one_whatever_lance_calls_it() -> None:
    from agentmem_plugins.storage._upkeep import lost_commit_race

    for text in (
        "Commit conflict for version 12",
        "Retryable commit conflict",
        "preempted by a concurrent transaction",
        "lance error: Too many concurrent writers. Attempted 5 times, but failed on "
        "retry_timeout of 30.000 seconds.",
    ):
        assert lost_commit_race(RuntimeError(text)), text
    assert not lost_commit_race(RuntimeError("No such file or directory"))


class _AlwaysFailing(_Store):
    def maintain(self) -> float | None:
        self.calls.append(time.monotonic())
        raise RuntimeError("the disk is gone")


async def test_upkeep_that_keeps_failing_is_retried_less_and_less_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import agentmem_plugins._upkeep_schedule as schedule

    monkeypatch.setattr(schedule, "UPKEEP_RETRY_S", 0.02)
    store = _AlwaysFailing(again_s=0.0)
    writer = _writer(store)
    writer.upkeep.start()
    deadline = time.monotonic() + 10
    while len(store.calls) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    writer.upkeep.closed = True  # no more retries
    gaps = [b - a for a, b in zip(store.calls, store.calls[1:], strict=False)]
    assert len(gaps) == 4
    assert gaps[3] >= 0.16 > gaps[0]  # 0.02, 0.04, 0.08, 0.16 s


async def test_upkeep_runs_once_writes_stop_short_of_the_commit_count(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upkeep also comes every ``compact_every_writes`` commits; a bulk load of fewer
    commits (60k rows in one add_many: 59) left the table in 59 fragments and without
    an ANN index, searched by a full scan, until more writes came."""
    import agentmem_plugins._upkeep_schedule as schedule
    from agentmem_plugins import AsyncMemory

    monkeypatch.setattr(schedule, "IDLE_UPKEEP_S", 0.2)
    memory = AsyncMemory(
        path=tmp_path / "s", embedder="hash", compact_every_writes=1000, batch_max_size=10
    )
    try:
        await memory.add_many([{"text": f"note {i}", "user_id": "u"} for i in range(50)])
        table = memory._stores.vectors._table
        assert table.stats()["fragment_stats"]["num_fragments"] > 1
        assert memory._writer.upkeep.pending()  # armed by the writes
        deadline = time.monotonic() + 30
        while memory._writer.upkeep.pending() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await memory._writer.upkeep.wait()
        stats = memory._stores.vectors._table.stats()["fragment_stats"]
        assert stats["num_fragments"] == 1  # compacted by the idle upkeep
    finally:
        await memory.close()

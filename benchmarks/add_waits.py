"""Where a single ``add`` waits during a bulk ingest (issue 14): timers on the small
lane's steps and on the process's one SQLite writing connection, by who holds it.

A bulk loader ``add_many``'s ``--size`` memories into one scope in batches of 1,000
while a probe adds one memory to another scope every 50 ms (as ``large_scope`` does,
without the searches). Reported, p50 / p90 / p99 in ms:

- the probe's ``add``;
- the small lane's persist, and its SQL and vector writes (time in the worker thread,
  waiting for the writing connection included);
- how long each holder kept the writing connection: the bulk and small lanes' SQL
  writes and revision checks, the WAL checkpointer's restart pass (``_checkpoints``);
- full garbage collections; the WAL file's size at the end.

    python -m benchmarks.add_waits --size 300000
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ._common import base_parser, log, percentile, temp_store_dir
from ._texts import sentences

if TYPE_CHECKING:
    from agentmem_plugins._writer import _Batch

P = ParamSpec("P")
T = TypeVar("T")
_held = threading.local()  # what the current worker-thread call is, for the pool events
_lane = contextvars.ContextVar("lane", default="?")  # each lane persists in a task of its own


def _pcts(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return " / ".join(f"{percentile(ms, q):.1f}" for q in (50, 90, 99)) + f"  (n {len(ms)})"


async def run(path: Path, size: int) -> dict[str, list[float]]:
    import sqlalchemy as sa

    from agentmem_plugins import AsyncMemory

    times: dict[str, list[float]] = {}

    def record(key: str, seconds: float) -> None:
        times.setdefault(key, []).append(seconds)

    async with AsyncMemory(path=path, embedder="hash") as memory:
        writer, stores = memory._writer, memory._stores
        plain_io = memory._io
        async def io(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
            who = f"{_lane.get()} {getattr(fn, '__qualname__', '?')}"

            def call() -> T:
                _held.who = who
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    record(f"thread: {who}", time.perf_counter() - t0)

            return await plain_io(call)

        memory._io = writer._io = io  # type: ignore[method-assign]
        persist = writer._persist

        async def timed_persist(collected: _Batch) -> None:
            _lane.set("small" if collected.requests[0].is_small() else "bulk")
            t0 = time.perf_counter()
            try:
                await persist(collected)
            finally:
                record(f"persist: {_lane.get()}", time.perf_counter() - t0)

        writer._persist = timed_persist  # type: ignore[method-assign]
        checked_out: dict[int, tuple[float, str]] = {}

        def out(dbapi: Any, *_: Any) -> None:
            name = threading.current_thread().name
            who = getattr(_held, "who", name) if name.startswith("agentmem-io") else name
            checked_out[id(dbapi)] = (time.perf_counter(), who)

        def back(dbapi: Any, *_: Any) -> None:
            if (took := checked_out.pop(id(dbapi), None)) is not None:
                record(f"writing connection held by: {took[1]}", time.perf_counter() - took[0])

        sa.event.listen(stores.records._write, "checkout", out)
        sa.event.listen(stores.records._write, "checkin", back)
        full_gcs: list[float] = []
        started = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    started[0] = time.perf_counter()
                else:
                    full_gcs.append(time.perf_counter() - started[0])

        gc.callbacks.append(on_gc)
        stop = asyncio.Event()

        async def probe() -> None:
            i = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                await memory.add(f"probe note {i} about the weather", user_id="probe")
                record("probe add", time.perf_counter() - t0)
                i += 1
                await asyncio.sleep(0.05)

        task = asyncio.create_task(probe())
        t0 = time.perf_counter()
        for lo in range(0, size, 1000):
            texts = sentences(min(1000, size - lo), seed=1_000 + lo)
            await memory.add_many([{"text": t, "user_id": "docs"} for t in texts])
        rate = size / (time.perf_counter() - t0)
        stop.set()
        await task
        gc.callbacks.remove(on_gc)
        wal = sum(f.stat().st_size for f in Path(path).glob("*.db-wal"))
        log(f"add_waits: {size:,} rows at {rate:,.0f}/s; full GCs {len(full_gcs)}, "
            f"{sum(full_gcs) * 1000:,.0f} ms in all; WAL file {wal / 2**20:.0f} MiB")
    return times


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=100_000)
    args = p.parse_args()
    with temp_store_dir(args.workdir, "add-waits") as path:
        times = asyncio.run(run(path, 20_000 if args.quick else args.size))
    print("p50 / p90 / p99 ms")
    for key in sorted(times):
        print(f"  {key:58s} {_pcts(times[key])}")


if __name__ == "__main__":
    main()

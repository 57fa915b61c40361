"""Where a turn of issue 13's workload waits, stage by stage (diagnostics, one run).

Runs the workload of :mod:`benchmarks.infer_faults` (100 users x 20 turns, 200 ms per
LLM call, 10% failing calls, 5% malformed answers; loopback server in its own process)
once in this process, with timers wrapped around the awaited steps of a turn (the LLM
call and its retries, the neighbour read, the write-path submit) and around the writer's
stages (collect, persist per lane, the SQL and vector sides, the revision check; for
these thread-side calls also the CPU the thread spent, against their wall time). Also
reports the CPU each thread of the client used (``/proc/self/task``) and the rows per
write batch (``--config '{"io_threads": 4}'`` and so on for the thread-count runs)::

    python -m benchmarks.infer_stages [--handover sequential|nowait] [--config JSON]

Wall times include queueing and waits for the GIL; they explain a run, they are not the
headline (that is ``infer_faults``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import threading
import time
from typing import Any

from agentmem_plugins import _store, _writer
from agentmem_plugins.storage import _records, _vectors

from .infer_ours import run_ours
from .infer_server import ServerHandle
from .infer_workload import workload

WALL: dict[str, list[float]] = collections.defaultdict(list)
ROWS: dict[str, list[int]] = collections.defaultdict(list)
#: the CPU the calling thread spent in the timed thread-side calls (the rest of their
#: wall time they waited: for the GIL, a core, a lock)
CPU: dict[str, list[float]] = collections.defaultdict(list)


def _timed_async(owner: Any, name: str, label: str) -> None:
    fn = getattr(owner, name)

    async def timed(*args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await fn(*args, **kw)
        finally:
            WALL[label].append(time.perf_counter() - t0)

    setattr(owner, name, timed)


def _timed_sync(owner: Any, name: str, label: str) -> None:
    fn = getattr(owner, name)

    def timed(*args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        c0 = time.thread_time()
        try:
            return fn(*args, **kw)
        finally:
            CPU[label].append(time.thread_time() - c0)
            WALL[label].append(time.perf_counter() - t0)

    setattr(owner, name, timed)


def instrument_writer() -> None:
    persist = _writer.Writer._persist

    async def timed_persist(self: _writer.Writer, collected: _writer._Batch) -> None:
        lane = "small" if collected.requests[0].is_small() else "bulk"
        ROWS[lane].append(collected.rows)
        t0 = time.perf_counter()
        try:
            await persist(self, collected)
        finally:
            WALL[f"writer: persist, {lane} lane"].append(time.perf_counter() - t0)

    _writer.Writer._persist = timed_persist  # type: ignore[method-assign]
    _timed_async(_store.Stores, "write", "writer: Stores.write")
    _timed_async(_store.Stores, "settled", "writer: wait for the previous revision check")
    _timed_sync(_records.RecordStore, "apply", "thread: SQL transaction")
    _timed_sync(_vectors.VectorIndex, "apply", "thread: LanceDB write")
    _timed_sync(_store.Stores, "_converge", "thread: revision check")


class TurnPhases:
    """Wraps one memory's awaited steps (attached by ``run_ours`` after the warm-up)."""

    def attach(self, memory: Any) -> None:
        _timed_async(memory, "add", "turn: add() in all")
        _timed_async(memory._pipeline(), "_ask", "turn: LLM call incl. retries and queueing")
        _timed_async(memory.llm, "complete", "turn: one LLM request")
        _timed_async(memory._searcher, "nearest", "turn: neighbour read")
        _timed_async(memory._searcher, "scope_vectors", "turn: scope vectors read")
        _timed_async(memory._pipeline()._runner, "documents", "turn: embedding")
        _timed_async(memory._pipeline()._queues, "_process", "turn: one group processed")
        _timed_async(memory._pipeline()._queues._leases, "hold", "turn: scope lease")
        _timed_async(memory._writer, "submit", "turn: write (submit -> acknowledged)")


def thread_cpu() -> dict[int, tuple[str, float]]:
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except FileNotFoundError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / tick)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--handover", default="sequential", choices=("sequential", "nowait"))
    p.add_argument("--config", default="{}", help="MemoryConfig fields as JSON")
    p.add_argument("--users", type=int, default=100)
    p.add_argument("--messages", type=int, default=20)
    args = p.parse_args()
    instrument_writer()
    names = {threading.get_native_id(): "main (event loop)"}
    run = threading.Thread.run

    def named_run(self: threading.Thread) -> None:
        names[threading.get_native_id()] = self.name.split("_")[0]
        run(self)

    threading.Thread.run = named_run  # type: ignore[method-assign]
    with ServerHandle("subprocess", latency_ms=200, seed=0) as server:
        server.issue13_faults(0.10, 0.05)
        before = thread_cpu()
        result = asyncio.run(
            run_ours(
                server.base_url,
                workload(args.users, args.messages, seed=0),
                timeout_s=2.0,
                handover=args.handover,
                phases=TurnPhases(),
                config=json.loads(args.config),
            )
        )
        after = thread_cpu()
    turns = result["messages"]
    print(
        f"{turns / result['elapsed_s']:.1f} turns/s, client CPU "
        f"{1000 * result['client_cpu_s'] / turns:.2f} ms per turn, load {os.getloadavg()[0]:.2f}"
    )
    for label, values in sorted(WALL.items()):
        v = sorted(values)
        print(
            f"  {label:48s} n={len(v):5d}  p50 {1000 * statistics.median(v):6.1f} ms"
            f"  p90 {1000 * v[int(0.9 * (len(v) - 1))]:6.1f}  mean {1000 * sum(v) / len(v):6.1f}"
            + (
                f"  (thread CPU: mean {1000 * sum(CPU[label]) / len(CPU[label]):5.2f} ms)"
                if CPU.get(label)
                else ""
            )
        )
    for lane, rows in ROWS.items():
        print(f"  {lane} lane: {len(rows)} batches, {sum(rows) / len(rows):.1f} rows each")
    cpu: dict[str, float] = collections.defaultdict(float)
    for tid, (comm, seconds) in after.items():
        cpu[names.get(tid, comm)] += seconds - before.get(tid, (comm, 0.0))[1]
    gone = result["client_cpu_s"] - sum(cpu.values())
    print(
        "  client CPU by thread:",
        ", ".join(f"{k} {v:.2f} s" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])[:4]),
        f", threads ended before the end {gone:.2f} s",
    )


if __name__ == "__main__":
    main()

"""Workload 7 - peak RSS while ingesting 100,000 memories through many small batches,
and what the LanceDB table looks like afterwards (fragments, versions, size on disk).

Each run is a fresh child process (so the peak is this workload's alone): 100 concurrent
callers of single ``add`` (``"hash"`` embedder) until 100,000 memories are stored; the
writer coalesces them into micro-batches, i.e. about a thousand small commits. A sampler
thread reads the child's RSS every 20 ms (psutil), and ``ru_maxrss`` is read at the end;
the peak is the larger of the two. Target: peak RSS <= 1 GB (1,024 MiB).

The same run reports the table after ingest (fragments, versions kept, index coverage,
bytes on disk for LanceDB and SQLite) and the number of vector commits, which shows
whether background compaction keeps up with many small batches. A second, smaller probe
(``--small-batches``: one caller, sequential single adds, i.e. one commit per memory,
the worst case) reports fragments/versions/disk and the per-add latency early vs late.

    python -m benchmarks.rss [--quick] [--n 100000] [--reps 3]
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import threading
import time
from typing import Any

from ._common import (
    ROOT,
    Result,
    base_parser,
    finish,
    lance_table_info,
    log,
    percentile,
    temp_store_dir,
)
from ._texts import metadata_for, sentences, users

WORKLOAD = "7. Peak RSS while ingesting via many small batches"
CALLERS = 100


def _rss_sampler(stop: threading.Event, peak: list[int]) -> None:
    try:
        import psutil
    except ImportError:  # ru_maxrss alone then (read at the end)
        return
    proc = psutil.Process()
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.02)


async def _ingest(path: str, n: int) -> dict[str, Any]:
    from agentmem_plugins import AsyncMemory

    per_caller = n // CALLERS
    uids = users(CALLERS)
    chunk = 10_000  # texts are generated per chunk, not all held at once
    memory = AsyncMemory(path=path, embedder="hash")
    t0 = time.perf_counter()
    try:
        async def caller(c: int) -> None:
            done = 0
            while done < per_caller:
                k0 = c * per_caller + done
                texts = sentences(min(chunk, per_caller - done), seed=k0)
                for j, text in enumerate(texts):
                    await memory.add(text, user_id=uids[c], metadata=metadata_for(k0 + j),
                                     infer=False)
                done += len(texts)

        await asyncio.gather(*(caller(c) for c in range(CALLERS)))
        ingest_s = time.perf_counter() - t0
        commits = getattr(getattr(memory, "_writer", None), "_commits", None)
    finally:
        await memory.close()
    return {"ingest_s": ingest_s, "commits": commits, "n": per_caller * CALLERS}


async def _sequential(path: str, n: int) -> dict[str, Any]:
    from agentmem_plugins import AsyncMemory

    texts = sentences(n, seed=42)
    lat = []
    memory = AsyncMemory(path=path, embedder="hash")
    try:
        for i, text in enumerate(texts):
            t0 = time.perf_counter()
            await memory.add(text, user_id="user-0000", metadata=metadata_for(i), infer=False)
            lat.append((time.perf_counter() - t0) * 1000)
        commits = getattr(getattr(memory, "_writer", None), "_commits", None)
    finally:
        await memory.close()
    tenth = max(1, n // 10)
    return {"commits": commits, "first_p50_ms": percentile(lat[:tenth], 50),
            "last_p50_ms": percentile(lat[-tenth:], 50), "n": n}


def child(mode: str, path: str, n: int) -> None:
    """Runs in the child process; prints one JSON line."""
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=_rss_sampler, args=(stop, peak), daemon=True)
    sampler.start()
    fn = _ingest if mode == "ingest" else _sequential
    out = asyncio.run(fn(path, n))
    stop.set()
    sampler.join()
    # ru_maxrss survives execve on Linux: a child started by a big parent (run_all after
    # the 1M search store) reports the parent's peak. So it is the fallback only, when
    # psutil sampling is unavailable.
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    out["peak_rss_mib"] = (peak[0] or maxrss) / 2**20
    from pathlib import Path

    out["table"] = lance_table_info(Path(path))
    print(json.dumps(out))


def _run_child(mode: str, workdir: str | None, n: int) -> dict[str, Any]:
    with temp_store_dir(workdir, f"rss-{mode}") as path:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.rss", "--child", mode, "--path", str(path),
             "--n", str(n)],
            cwd=ROOT, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"rss child failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False, reps: int | None = None, workdir: str | None = None,
        n: int | None = None, small_n: int | None = None) -> list[Result]:
    n = n or (10_000 if quick else 100_000)
    small_n = small_n or (300 if quick else 2_000)
    reps = reps or (1 if quick else 3)
    runs = []
    for r in range(reps):
        res = _run_child("ingest", workdir, n)
        t = res["table"]
        log(f"rss rep {r + 1}/{reps}: peak {res['peak_rss_mib']:.0f} MiB, "
            f"{res['n'] / res['ingest_s']:,.0f}"
            f" memories/s, {res['commits']} commits -> {t.get('fragments')} fragments, "
            f"{t.get('versions')} versions, lance {t.get('lance_bytes', 0) / 2**20:.0f} MiB, "
            f"sqlite {t.get('sqlite_bytes', 0) / 2**20:.0f} MiB")
        runs.append(res)
    seq = _run_child("sequential", workdir, small_n)
    st = seq["table"]
    log(f"small batches ({small_n} sequential adds, {seq['commits']} commits): "
        f"{st.get('fragments')} fragments, {st.get('versions')} versions, "
        f"lance {st.get('lance_bytes', 0) / 2**20:.1f} MiB; add p50 first 10% "
        f"{seq['first_p50_ms']:.2f} ms, last 10% {seq['last_p50_ms']:.2f} ms")
    last = runs[-1]["table"]
    params = {"n": n, "callers": CALLERS, "reps": reps, "embedder": "hash (256-d)",
              "commits": [x["commits"] for x in runs], "table_after_ingest": last}
    sparams = {"n": small_n, "commits": seq["commits"], "table": st,
               "add_p50_first_10pct_ms": seq["first_p50_ms"],
               "add_p50_last_10pct_ms": seq["last_p50_ms"]}
    return [
        Result("rss.peak", WORKLOAD, "peak RSS of the ingesting process", "MiB",
               [x["peak_rss_mib"] for x in runs], 1024, "<=", params),
        Result("rss.ingest", WORKLOAD, "ingest throughput (100 callers of add)", "memories/s",
               [x["n"] / x["ingest_s"] for x in runs], params=params, diagnostic=True),
        Result("rss.fragments", WORKLOAD, "LanceDB fragments after ingest", "count",
               [x["table"].get("fragments") or 0 for x in runs], params=params, diagnostic=True,
               notes=f"after ~{runs[-1]['commits']} vector commits"),
        Result("rss.versions", WORKLOAD, "LanceDB versions kept after ingest", "count",
               [x["table"].get("versions") or 0 for x in runs], params=params, diagnostic=True),
        Result("rss.disk_lance", WORKLOAD, "LanceDB on disk after ingest", "MiB",
               [x["table"].get("lance_bytes", 0) / 2**20 for x in runs], params=params,
               diagnostic=True),
        Result("rss.disk_sqlite", WORKLOAD, "SQLite on disk after ingest (db+wal)", "MiB",
               [x["table"].get("sqlite_bytes", 0) / 2**20 for x in runs], params=params,
               diagnostic=True),
        Result("small_batches.fragments", "7b. Many tiny commits (sequential single add)",
               f"fragments after {small_n} one-row commits", "count",
               [st.get("fragments") or 0], params=sparams, diagnostic=True),
        Result("small_batches.versions", "7b. Many tiny commits (sequential single add)",
               "versions kept", "count", [st.get("versions") or 0], params=sparams,
               diagnostic=True),
        Result("small_batches.disk_lance", "7b. Many tiny commits (sequential single add)",
               "LanceDB on disk", "MiB", [st.get("lance_bytes", 0) / 2**20], params=sparams,
               diagnostic=True),
        Result("small_batches.add_latency_growth", "7b. Many tiny commits (sequential single add)",
               "add p50, last 10% / first 10%", "ratio",
               [seq["last_p50_ms"] / seq["first_p50_ms"]], params=sparams, diagnostic=True,
               notes=f"{seq['first_p50_ms']:.2f} ms -> {seq['last_p50_ms']:.2f} ms"),
    ]


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--small-n", type=int, default=None)
    p.add_argument("--child", choices=["ingest", "sequential"], default=None)
    p.add_argument("--path", default=None)
    args = p.parse_args()
    if args.child:
        child(args.child, args.path, args.n)
        return
    finish(args, run(args.quick, args.reps, args.workdir, args.n, args.small_n))


if __name__ == "__main__":
    main()

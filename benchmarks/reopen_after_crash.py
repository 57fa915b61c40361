"""Reopen time after a crash: what the first open after a kill -9 costs, before and after
per-process sessions with write intents (issue 8).

Builds one store of ``--rows`` memories (precomputed 32-d vectors, 100 users), closed
cleanly. Then, for ``--base`` (an export of the previous commit) and for this tree, on a
copy of that store: a writer process opens it, commits one ``add_many`` of 1,000 rows to
SQL and is killed (SIGKILL) before the vector write; a fresh process then opens the
store, timed from the constructor call to its return (imports excluded), and checks
that the vector side holds every SQL row again. Before: the crash marker makes the
open read every id of both sides. After: the open repairs the dead session's one
intent (1,000 ids).

    python -m benchmarks.reopen_after_crash --base /tmp/base --rows 100000 [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

BUILD = """
import asyncio, numpy as np
from agentmem_plugins import AsyncMemory
async def main():
    rng = np.random.default_rng(0)
    async with AsyncMemory(path={path!r}, embedder="none", batch_max_size=10000) as m:
        for start in range(0, {rows}, 50000):
            n = min(50000, {rows} - start)
            vecs = rng.standard_normal((n, 32), dtype=np.float32)
            await m.add_many({{"text": f"memory {{start + i}}",
                              "user_id": f"u{{(start + i) % 100}}", "vector": vecs[i]}}
                             for i in range(n))
asyncio.run(main())
"""

CRASH = """
import asyncio, os, signal, threading, numpy as np
from agentmem_plugins import AsyncMemory
from agentmem_plugins.storage import RecordStore, VectorIndex
committed = threading.Event()
sql_apply = RecordStore.apply
def apply(*a, **k):
    sql_apply(*a, **k)
    committed.set()
def die(*a, **k):  # once SQL has committed the batch (before: the two ran in parallel)
    committed.wait()
    os.kill(os.getpid(), signal.SIGKILL)
RecordStore.apply = apply
VectorIndex.apply = die
async def main():
    m = AsyncMemory(path={path!r}, embedder="none")
    vecs = np.random.default_rng(1).standard_normal((1000, 32), dtype=np.float32)
    await m.add_many({{"text": f"in flight {{i}}", "user_id": "u0", "vector": vecs[i]}}
                     for i in range(1000))
asyncio.run(main())
"""

REOPEN = """
import asyncio, json, time
from agentmem_plugins import AsyncMemory
import lancedb
def timed_open():
    t0 = time.perf_counter()
    m = AsyncMemory(path={path!r}, embedder="none")
    return m, time.perf_counter() - t0
m, opened = timed_open()
sql, vec = m._stores.records.count({{}}, None), m._stores.vectors.count()
asyncio.run(m.close())
m, clean = timed_open()  # the same store, closed cleanly: no repair
asyncio.run(m.close())
print(json.dumps({{"open_s": opened, "clean_s": clean, "sql": sql, "vectors": vec}}))
"""


def py(tree: Path, code: str, *, check: bool = True) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=False
    )
    if check and out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return out.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--workdir", default=None)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        built = Path(tmp) / "built"
        py(HERE, BUILD.format(path=str(built), rows=args.rows))
        times: dict[str, list[float]] = {"before": [], "after": []}
        clean: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.reps):
            for label, tree in (("before", args.base), ("after", HERE)):
                store = Path(tmp) / label
                shutil.rmtree(store, ignore_errors=True)
                shutil.copytree(built, store)
                py(tree, CRASH.format(path=str(store)), check=False)  # dies by SIGKILL
                got = json.loads(py(tree, REOPEN.format(path=str(store))).splitlines()[-1])
                assert got["sql"] == got["vectors"] == args.rows + 1000, got
                times[label].append(got["open_s"])
                clean[label].append(got["clean_s"])
        before, after = (statistics.median(times[k]) for k in ("before", "after"))
        cb, ca = (statistics.median(clean[k]) for k in ("before", "after"))
        print(f"clean reopen (no crash), for reference: before {cb:.3f} s, after {ca:.3f} s")
        print(
            f"reopen after a crash at {args.rows:,} rows (+1,000 in flight): "
            f"before {before:.3f} s, after {after:.3f} s; runs "
            f"{json.dumps({k: [round(v, 3) for v in vs] for k, vs in times.items()})}"
        )


if __name__ == "__main__":
    main()

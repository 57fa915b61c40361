"""The first searches of a large scope, two code trees side by side (issue 14, eleventh pass).

A search that is the first of its kind pays for what later ones find ready: LanceDB
loading the ANN index's partitions as the search probes them, and the address map
learning the table's rows. Two cases, each tree in a subprocess of its own (its
``agentmem_plugins``, this file's harness; the trees alternate):

* ``after-load``: a fresh store; 100,000 rows in one scope (``add_many`` x 1,000), the
  writer's upkeep awaited, 50 searches (this process now searches by index); then the
  rest of ``--size`` rows loaded the same way, upkeep awaited, 2 s idle, and 200 searches;
* ``after-open``: ``--store`` opened (a store ``benchmarks.search_trees`` built),
  with ``--drop-caches`` the OS page cache dropped first (needs root), and 200 searches.

Reported per tree and round: the p50 and worst of each batch of 20 searches, in order::

    python -m benchmarks.first_searches --trees /tmp/base,. --case after-load --size 300000
    python -m benchmarks.first_searches --trees /tmp/base,. --case after-open \\
        --store /tmp/x14/s1m --drop-caches

A tree is a checkout (``git archive <commit> | tar -x -C /tmp/base``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BATCH = 20


async def _batches(memory: Any, questions: list[str]) -> list[dict[str, float]]:
    out = []
    for start in range(0, len(questions), BATCH):
        lat = []
        for q in questions[start : start + BATCH]:
            t0 = time.perf_counter()
            await memory.search(q, user_id="docs", limit=10)
            lat.append((time.perf_counter() - t0) * 1000)
        out.append({"p50_ms": round(statistics.median(lat), 2), "max_ms": round(max(lat), 2)})
    return out


async def _load(memory: Any, start: int, end: int) -> None:
    from ._texts import sentences

    texts = sentences(end - start, seed=7 + start)
    for i in range(0, len(texts), 1_000):
        await memory.add_many([{"text": t, "user_id": "docs"} for t in texts[i : i + 1_000]])


async def after_load(size: int, workdir: str | None) -> list[dict[str, float]]:
    from agentmem_plugins import AsyncMemory

    from ._texts import questions
    from .large_scope import _settle

    qs = questions(250, seed=3)
    with tempfile.TemporaryDirectory(dir=workdir) as path:
        async with AsyncMemory(path=path, embedder="hash") as memory:
            await _load(memory, 0, 100_000)
            await _settle(memory)
            for q in qs[:50]:  # this process searches by index from now on
                await memory.search(q, user_id="docs", limit=10)
            await _load(memory, 100_000, size)
            await _settle(memory)
            await asyncio.sleep(2.0)
            return await _batches(memory, qs[50:])


async def after_open(store: str) -> list[dict[str, float]]:
    from agentmem_plugins import AsyncMemory

    from ._texts import questions

    async with AsyncMemory(path=store, embedder="hash") as memory:
        return await _batches(memory, questions(200, seed=11))


def main() -> None:
    from ._common import base_parser, environment, log

    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--case", choices=["after-load", "after-open"], default="after-load")
    p.add_argument("--size", type=int, default=300_000, help="after-load: rows in all")
    p.add_argument("--store", default=None, help="after-open: a search_trees store")
    p.add_argument("--drop-caches", action="store_true", help="after-open: needs root")
    p.add_argument("--trees", default=".", help="comma-separated code trees")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # a tree's subprocess
    args = p.parse_args()
    if args.one:  # that tree's agentmem_plugins, this tree's harness
        assert "agentmem_plugins" not in sys.modules
        sys.path.insert(0, args.one)
        run = after_load(args.size, args.workdir) if args.case == "after-load" else None
        found = asyncio.run(run if run is not None else after_open(args.store))
        print(json.dumps(found))
        return
    if args.case == "after-open" and not args.store:
        p.error("--case after-open needs --store")
    if args.case == "after-open" and not Path(args.store).exists():
        p.error(f"{args.store} does not exist: build it with benchmarks.search_trees")
    trees = [str(Path(t).resolve()) for t in args.trees.split(",")]
    runs: dict[str, list[Any]] = {t: [] for t in trees}
    for r in range(args.rounds):
        for tree in trees:
            if args.drop_caches:
                subprocess.run(["sync"], check=True)
                Path("/proc/sys/vm/drop_caches").write_text("3\n")
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.first_searches",
                "--one",
                tree,
                "--case",
                args.case,
                "--size",
                str(args.size),
            ]
            cmd += ["--store", args.store] if args.store else []
            cmd += ["--workdir", args.workdir] if args.workdir else []
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
            found = json.loads(done.stdout.strip().splitlines()[-1])
            runs[tree].append(found)
            log(
                f"round {r + 1} {tree}: p50 (max) per {BATCH} searches: "
                + ", ".join(f"{b['p50_ms']} ({b['max_ms']:.0f})" for b in found)
            )
    if args.json:
        summary = {
            "case": args.case,
            "size": args.size,
            "store": args.store,
            "drop_caches": args.drop_caches,
            "env": environment(),
            "trees": runs,
        }
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

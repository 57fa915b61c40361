"""Workload 1 - fast mode: many concurrent callers of single ``AsyncMemory.add``.

100 asyncio tasks each add their own texts one at a time (``infer=False``, one user per
caller) with the offline ``"hash"`` embedder. Throughput = memories acknowledged (durable
in SQLite and LanceDB) / wall time from the first call to the last acknowledgement. The
store is opened and one memory written before timing (table creation is not counted).
Each repetition uses a fresh store. Target: >= 10,000 memories/s.

    python -m benchmarks.fast_mode [--quick] [--callers 100] [--per-caller 100] [--reps 5]
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._common import Result, Timer, base_parser, finish, lance_table_info, log, temp_store_dir
from ._texts import metadata_for, sentences, users

WORKLOAD = "1. Fast mode (concurrent single add, hash embedder)"


async def one_rep(workdir: str | None, callers: int, per_caller: int, seed: int) -> dict[str, Any]:
    from agentmem_plugins import AsyncMemory

    texts = sentences(callers * per_caller, seed=seed)
    uids = users(callers)
    with temp_store_dir(workdir, "fast") as path:
        memory = AsyncMemory(path=path, embedder="hash")
        try:
            await memory.add("warm-up memory", user_id="warm", infer=False)

            async def caller(c: int) -> None:
                for j in range(per_caller):
                    k = c * per_caller + j
                    await memory.add(
                        texts[k], user_id=uids[c], metadata=metadata_for(k), infer=False
                    )

            with Timer() as t:
                await asyncio.gather(*(caller(c) for c in range(callers)))
            commits = getattr(getattr(memory, "_writer", None), "_commits", None)
        finally:
            await memory.close()
        info = lance_table_info(path)
    n = callers * per_caller
    return {
        "throughput": n / t.wall,
        "cpu_ms_per_1k": 1000 * t.cpu / n * 1000,
        "commits": commits,
        "fragments": info.get("fragments"),
    }


def run(quick: bool = False, reps: int | None = None, workdir: str | None = None,
        callers: int = 100, per_caller: int | None = None) -> list[Result]:
    per_caller = per_caller or (10 if quick else 100)
    reps = reps or (3 if quick else 5)
    out = []
    for r in range(reps):
        res = asyncio.run(one_rep(workdir, callers, per_caller, seed=r))
        log(f"fast_mode rep {r + 1}/{reps}: {res['throughput']:,.0f} memories/s "
            f"({res['commits']} vector commits, cpu {res['cpu_ms_per_1k']:.0f} ms/1k)")
        out.append(res)
    params = {"callers": callers, "per_caller": per_caller,
              "memories_per_rep": callers * per_caller,
              "reps": reps, "embedder": "hash (256-d)"}
    commits = [o["commits"] for o in out if o["commits"]]
    mean_batch = (callers * per_caller / (sum(commits) / len(commits))) if commits else None
    return [
        Result("fast_mode.throughput", WORKLOAD, "throughput", "memories/s",
               [o["throughput"] for o in out], 10_000, ">=", params,
               notes=f"mean micro-batch ~{mean_batch:.0f} memories" if mean_batch else ""),
        Result("fast_mode.cpu_per_1k", WORKLOAD, "process CPU per 1,000 memories", "ms",
               [o["cpu_ms_per_1k"] for o in out], params=params, diagnostic=True,
               notes="user+sys CPU of the process; less sensitive to a busy machine "
                     "than wall time"),
    ]


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--callers", type=int, default=100)
    p.add_argument("--per-caller", type=int, default=None)
    args = p.parse_args()
    finish(args, run(args.quick, args.reps, args.workdir, args.callers, args.per_caller))


if __name__ == "__main__":
    main()

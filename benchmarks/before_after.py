"""Single-process figures of two source trees, interleaved in one run.

Runs workload 1 (fast mode: 100 concurrent callers of ``add``) and workload 2 (one
``add_many`` of 10,000) from ``--base`` (e.g. an export of the previous commit:
``git archive HEAD~1 | tar -x -C /tmp/base``) and from this tree, alternating
base/this per repetition (the order swapped every other one) so both see the same machine
load; medians reported, and the median of the ratios of the pairs run back to back.

    python -m benchmarks.before_after --base /tmp/base [--reps 5] [--gc-freeze]

Each run also reports the process's CPU time per 1,000 memories (all threads; less
sensitive to a shared machine's load than the rate) and counts Python's garbage
collections (``gc.callbacks``) and their time, per generation; ``--gc-freeze`` runs
``gc.collect(); gc.freeze()`` after the imports in both trees, taking the import-time
objects out of every full collection's walk (see the README, "Latency in a long-running
service").
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
SNIPPETS = {
    "fast mode, 100 callers x 100 adds (memories/s)": (
        "from benchmarks.fast_mode import one_rep; r = asyncio.run(one_rep(None, 100, 100, {seed}))"
    ),
    "add_many of 10,000 (memories/s)": (
        "from benchmarks.batch_mode import one_rep; r = asyncio.run(one_rep(None, 10000, {seed}))"
    ),
}


GC_COUNTER = """
import gc, time
gcs = {{0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}}
_t0 = [0.0]
def _gc(phase, info):
    if phase == "start":
        _t0[0] = time.perf_counter()
    else:
        gcs[info["generation"]][0] += 1
        gcs[info["generation"]][1] += time.perf_counter() - _t0[0]
{freeze}
gc.callbacks.append(_gc)
"""
FREEZE = "import agentmem_plugins, lancedb, sqlalchemy\ngc.collect(); gc.freeze()"


def one(tree: Path, snippet: str, gc_freeze: bool) -> tuple[float, float, dict[str, list[float]]]:
    counter = GC_COUNTER.format(freeze=FREEZE if gc_freeze else "")
    result = "[r['throughput'], r['cpu_ms_per_1k'], gcs]"
    code = f"import asyncio, json\n{counter}\n{snippet}\nprint(json.dumps({result}))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True
    )
    throughput, cpu, gcs = json.loads(out.stdout.strip().splitlines()[-1])
    return float(throughput), float(cpu), gcs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after the imports")
    args = p.parse_args()
    for name, snippet in SNIPPETS.items():
        got: dict[str, list[float]] = {"before": [], "after": []}
        cpu: dict[str, list[float]] = {"before": [], "after": []}
        full: dict[str, list[tuple[int, float]]] = {"before": [], "after": []}
        for rep in range(args.reps):
            pair = [("before", args.base), ("after", HERE)]
            for label, tree in pair if rep % 2 == 0 else pair[::-1]:  # no position bias
                throughput, cpu_1k, gcs = one(tree, snippet.format(seed=rep), args.gc_freeze)
                got[label].append(throughput)
                cpu[label].append(cpu_1k)
                full[label].append((int(gcs["2"][0]), gcs["2"][1]))
        before, after = (statistics.median(got[k]) for k in ("before", "after"))
        print(
            f"{name}: before {before:,.0f}  after {after:,.0f}  ({after / before - 1:+.1%})  "
            f"runs {json.dumps({k: [round(v) for v in vs] for k, vs in got.items()})}",
            flush=True,
        )
        # a pair ran back to back: its ratio is less exposed to the machine's drift
        rate = statistics.median(a / b for a, b in zip(got["after"], got["before"], strict=True))
        per_1k = statistics.median(a / b for a, b in zip(cpu["after"], cpu["before"], strict=True))
        print(
            f"  median of the paired ratios after/before: rate {rate - 1:+.1%}, "
            f"CPU per 1,000 {per_1k - 1:+.1%}",
            flush=True,
        )
        print(
            "  CPU ms per 1,000 memories: "
            + ", ".join(
                f"{k} {statistics.median(v):.0f} {[round(x) for x in v]}" for k, v in cpu.items()
            ),
            flush=True,
        )
        for label, runs in full.items():
            print(
                f"  {label}: full collections per run {[n for n, _ in runs]}, "
                f"their time {[round(1000 * t) for _, t in runs]} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()

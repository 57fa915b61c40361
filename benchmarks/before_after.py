"""Single-process figures of two source trees, interleaved in one run.

Runs workload 1 (fast mode: 100 concurrent callers of ``add``) and workload 2 (one
``add_many`` of 10,000) from ``--base`` (e.g. an export of the previous commit:
``git archive HEAD~1 | tar -x -C /tmp/base``) and from this tree, alternating
base/this per repetition so both see the same machine load; medians reported.

    python -m benchmarks.before_after --base /tmp/base [--reps 5]
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


def one(tree: Path, snippet: str) -> float:
    code = f"import asyncio, json\n{snippet}\nprint(json.dumps(r['throughput']))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    for name, snippet in SNIPPETS.items():
        got: dict[str, list[float]] = {"before": [], "after": []}
        for rep in range(args.reps):
            for label, tree in (("before", args.base), ("after", HERE)):
                got[label].append(one(tree, snippet.format(seed=rep)))
        before, after = (statistics.median(got[k]) for k in ("before", "after"))
        print(
            f"{name}: before {before:,.0f}  after {after:,.0f}  ({after / before - 1:+.1%})  "
            f"runs {json.dumps({k: [round(v) for v in vs] for k, vs in got.items()})}",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Run every benchmark in one invocation and write a markdown table + JSON.

    python -m benchmarks.run_all            # full sizes (tens of minutes on 2 cores)
    python -m benchmarks.run_all --quick    # smoke run, a couple of minutes
    python -m benchmarks.run_all --with-1m  # add the 1,000,000-memory search store

Writes ``benchmarks/results/<stamp>.json`` and ``<stamp>.md`` and copies them to
``latest.json`` / ``latest.md``. Each figure is the median over repetitions (``--reps``
overrides every workload's default). ``--only`` picks workloads, e.g. ``--only fast,batch``.
The Mem0 part runs in ``.bench/venv`` when Mem0 is not importable here
(``bash benchmarks/setup_mem0_venv.sh`` creates it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from ._common import RESULTS_DIR, Result, environment, fmt, log, print_results

ALL = ["fast", "batch", "mem0", "pipeline", "persistence", "search", "rss"]


def size_of(r: Result) -> str:
    p = r.params
    for key in ("memories", "memories_per_rep", "n", "batch_n"):
        if isinstance(p.get(key), int):
            return f"{p[key]:,}"
    return ""


def markdown(results: list[Result], env: dict[str, Any], args: argparse.Namespace,
             timings: dict[str, float]) -> str:
    lines = [
        f"# Benchmark results ({'quick smoke run' if args.quick else 'full run'})",
        "",
        f"- when: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, git {env.get('git_commit', '?')}",
        f"- machine: {env.get('cpu_count')} CPUs ({env.get('cpu_model', '?')}), "
        f"{env.get('mem_total_gb', '?')} GB RAM, {env.get('platform')}",
        f"- python {env.get('python')}, lancedb {env.get('lancedb')}, SQLAlchemy "
        f"{env.get('SQLAlchemy')}, fastembed {env.get('fastembed')}, onnxruntime "
        f"{env.get('onnxruntime')}, numpy {env.get('numpy')}",
        f"- load average at start {tuple(round(x, 2) for x in env['loadavg'])}, at end "
        f"{tuple(round(x, 2) for x in env.get('loadavg_end', (0, 0, 0)))} "
        "(anything well above 0 means other jobs shared the cores)",
        "- wall time per workload (s): "
        + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()),
        "",
        "## Targets",
        "",
        "| workload | size | figure | median | target | result | reps (values) | notes |",
        "| --- | --- | --- | ---: | ---: | :---: | --- | --- |",
    ]
    for r in results:
        if r.diagnostic or r.target is None:
            continue
        status = {True: "PASS", False: "**MISS**", None: ""}[r.passed]
        vals = ", ".join(fmt(v, r.unit) for v in r.values)
        lines.append(f"| {r.workload} | {size_of(r)} | {r.metric} ({r.unit}) | "
                     f"{fmt(r.median, r.unit)} | {r.direction} {fmt(r.target, r.unit)} | "
                     f"{status} | {vals} | {r.notes} |")
    lines += ["", "## Supporting figures (no target)", "",
              "| workload | size | figure | median | reps (values) | notes |",
              "| --- | --- | --- | ---: | --- | --- |"]
    for r in results:
        if not (r.diagnostic or r.target is None):
            continue
        vals = ", ".join(fmt(v, r.unit) for v in r.values)
        lines.append(f"| {r.workload} | {size_of(r)} | {r.metric} ({r.unit}) | "
                     f"{fmt(r.median, r.unit)} | {vals} | {r.notes} |")
    lines += ["", "Parameters of every figure are in the JSON file next to this one."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--workdir", default=None)
    p.add_argument("--with-1m", action="store_true", help="search at 1,000,000 memories too")
    p.add_argument("--only", default=",".join(ALL), help=f"comma list from {','.join(ALL)}")
    p.add_argument("--out", default=str(RESULTS_DIR), help="results folder")
    args = p.parse_args()
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        p.error(f"unknown workloads: {', '.join(sorted(unknown))}")

    env = environment()
    from . import batch_mode, fast_mode, mem0_compare, persistence, pipeline, rss, search

    q, reps, wd = args.quick, args.reps, args.workdir
    steps = {
        "fast": lambda: fast_mode.run(q, reps, wd),
        "batch": lambda: batch_mode.run(q, reps, wd),
        "mem0": lambda: mem0_compare.run(q, reps, wd, ours=list(results)),
        "pipeline": lambda: pipeline.run(q, reps, wd),
        "persistence": lambda: persistence.run(q, reps, wd),
        "search": lambda: search.run(q, reps, wd, with_1m=args.with_1m),
        "rss": lambda: rss.run(q, reps, wd),
    }
    results: list[Result] = []
    timings: dict[str, float] = {}
    failures: dict[str, str] = {}
    for name in ALL:
        if name not in only:
            continue
        log(f"=== {name}")
        t0 = time.perf_counter()
        try:
            results += steps[name]()
        except Exception:  # one broken workload must not lose the others' figures
            failures[name] = traceback.format_exc()
            log(f"{name} FAILED:\n{failures[name]}")
            results.append(Result(f"{name}.failed", name, "workload crashed", "", [],
                                  notes=failures[name].strip().splitlines()[-1]))
        timings[name] = time.perf_counter() - t0
    env["loadavg_end"] = __import__("os").getloadavg()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-quick" if q else "")
    payload = {"environment": env, "args": vars(args), "timings_s": timings,
               "failures": failures, "results": [r.to_dict() for r in results]}
    (out / f"{stamp}.json").write_text(json.dumps(payload, indent=2, default=str))
    (out / f"{stamp}.md").write_text(markdown(results, env, args, timings))
    shutil.copyfile(out / f"{stamp}.json", out / "latest.json")
    shutil.copyfile(out / f"{stamp}.md", out / "latest.md")
    print_results(results)
    log(f"wrote {out / (stamp + '.md')} and .json (also latest.*)")


if __name__ == "__main__":
    main()

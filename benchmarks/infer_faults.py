"""Intelligent mode under LLM faults, before and after a change, side by side (issue 13).

The workload of issue 13: 100 users x 20 turns (:mod:`benchmarks.infer_workload`), 200 ms
per LLM call, 10% of calls failing (a third each: 429 with ``Retry-After`` 0.2 s, 500, and
a request held 3 s past the client's 2 s timeout) and 5% answered with malformed JSON,
from the loopback server in its own process. Two ways of handing turns over:

* ``sequential``: each user awaits every ``add(wait=True)`` before the next turn
  ("each add waits"; no coalescing possible);
* ``nowait``: each user awaits every ``add(wait=False)`` (durable hand-over), the clock
  stops after ``flush()``.

Every variant runs in its own subprocess with its own loopback server, and variants
alternate within each repetition, so "before" and "after" share the machine's load::

    python -m benchmarks.infer_faults --before-tree /tmp/base --repeats 3 \\
        --json benchmarks/results/infer-faults.json

``--before-tree`` is a scratch checkout of the code to compare against (``git archive
<commit> | tar -x -C /tmp/base``): the "before" subprocesses run there, with its
``agentmem_plugins`` (client and loopback server) and this tree's harness files copied
into its ``benchmarks/``.
A variant ``after+hedge`` also sets ``llm_hedge_percentile=95``; ``after+aiohttp`` sets
``llm_http_client="aiohttp"`` (the default since the sixth pass; ``after+httpx`` the
former default), ``after+aiohttp+hedge`` both;
``after+c128`` and ``after+aiohttp+c128`` raise ``llm_max_concurrency`` from 64 to 128
(100 users' calls and their hedge copies all in flight at once).
Reported per variant: turns/s (median, min-max), LLM requests and tokens per turn as the
server counts them (and answered requests per prompt kind), adds that raised, facts lost,
pending after the run and after ``retry_pending``, users whose valid facts match the rules
applied in order, users with no memory at all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from .infer_server import add_workload_args

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ("infer_faults.py", "infer_ours.py", "infer_server.py", "infer_workload.py")
VARIANTS = {
    "before": {},
    "after": {},
    "after+hedge": {"llm_hedge_percentile": 95.0},
    # the HTTP client that was the default until issue 13's sixth pass
    "after+httpx": {"llm_http_client": "httpx"},
    "after+aiohttp": {"llm_http_client": "aiohttp"},
    "after+aiohttp+hedge": {"llm_http_client": "aiohttp", "llm_hedge_percentile": 95.0},
    # 128 call slots: room for 100 users' calls and their hedge copies (default 64)
    "after+c128": {"llm_max_concurrency": 128},
    "after+aiohttp+c128": {"llm_http_client": "aiohttp", "llm_max_concurrency": 128},
}


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    """One repetition of one variant (runs in the subprocess)."""
    import agentmem_plugins

    from .infer_ours import run_ours
    from .infer_server import ServerHandle
    from .infer_workload import workload

    scripts = workload(args.users, args.messages, seed=args.seed)
    config = json.loads(args.config)
    with ServerHandle("subprocess", latency_ms=args.latency_ms, seed=args.seed) as server:
        server.issue13_faults(args.fault_rate, args.malformed_rate)
        result = asyncio.run(
            run_ours(
                server.base_url,
                scripts,
                timeout_s=2.0,
                handover=args.handover,
                retry_rounds=5,
                config=config,
            )
        )
        stats = server.stats()
    result["server"] = stats
    result["core"] = str(Path(agentmem_plugins.__file__).parent)
    return result


def run_variant(
    args: argparse.Namespace, variant: str, handover: str, before_tree: str | None
) -> dict[str, Any]:
    cwd = ROOT
    if variant == "before":
        # the other tree's client and loopback server (both import from the working
        # directory), driven by this tree's harness
        assert before_tree is not None
        cwd = Path(before_tree)
        for name in HARNESS:
            shutil.copy(ROOT / "benchmarks" / name, cwd / "benchmarks" / name)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.infer_faults",
        "--one",
        "--handover",
        handover,
        "--users",
        str(args.users),
        "--messages",
        str(args.messages),
        "--latency-ms",
        str(args.latency_ms),
        "--fault-rate",
        str(args.fault_rate),
        "--malformed-rate",
        str(args.malformed_rate),
        "--seed",
        str(args.seed),
        "--config",
        json.dumps(VARIANTS[variant]),
    ]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{variant}/{handover} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if variant == "before" and not result["core"].startswith(str(before_tree)):
        raise RuntimeError(f"'before' ran {result['core']}, not {before_tree}")
    return result


def summary(reps: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["messages"] / r["elapsed_s"] for r in reps]
    msgs = reps[0]["messages"]

    def per_turn(key: str) -> float:
        values = []
        for r in reps:
            s = r["server"]
            v = s["prompt_tokens"] + s["completion_tokens"] if key == "tokens" else s[key]
            values.append(v / msgs)
        return statistics.median(values)

    def worst(key: str, after_retry: bool = False) -> int:
        checks = [r["retry"]["check"] if after_retry and "retry" in r else r["check"] for r in reps]
        return max(c[key] for c in checks)

    return {
        "turns_per_s_median": round(statistics.median(rates), 1),
        "turns_per_s_all": [round(x, 1) for x in rates],
        "llm_requests_per_turn": round(per_turn("chat_requests"), 3),
        # answered requests by prompt: extraction / decision (two-call path, and the
        # one-call path's second decisions) / one-call extract_and_decide
        "answered_by_task_per_turn": {
            task: round(
                statistics.median(r["server"]["by_task"].get(task, 0) / msgs for r in reps), 3
            )
            for task in ("extract_facts", "decide", "extract_and_decide")
        },
        "tokens_per_turn": round(per_turn("tokens"), 1),
        "prompt_tokens_per_turn": round(per_turn("prompt_tokens"), 1),
        "completion_tokens_per_turn": round(per_turn("completion_tokens"), 1),
        "by_outcome": reps[len(reps) // 2]["server"]["by_outcome"],
        "adds_raised": worst("adds_raised"),
        "lost": worst("lost"),
        "lost_after_retry": worst("lost", True),
        "pending_after_run": worst("pending"),
        "pending_after_retry": worst("pending", True),
        "users_matching_rules_min": min(
            (r["retry"]["check"] if "retry" in r else r["check"])["users_matching_rules"]
            for r in reps
        ),
        "users_without_memories_max": max(r["users_without_memories"] for r in reps),
        "users": reps[0]["check"]["users"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--config", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--handover", default="sequential", choices=("sequential", "nowait"))
    p.add_argument("--handovers", default="sequential,nowait")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--before-tree", default=None)
    add_workload_args(p)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write all repetitions here")
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(args), default=str))
        return 0
    variants = args.variants.split(",")
    if "before" in variants and not args.before_tree:
        p.error("--before-tree is needed for the 'before' variant")
    before = str(Path(args.before_tree).resolve()) if args.before_tree else None
    reps: dict[str, list[dict[str, Any]]] = {}
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    for rep in range(args.repeats):
        for handover in args.handovers.split(","):
            for variant in variants:
                result = run_variant(args, variant, handover, before)
                reps.setdefault(f"{variant} / {handover}", []).append(result)
                rate = result["messages"] / result["elapsed_s"]
                print(
                    f"rep {rep + 1} {variant:12} {handover:10} {rate:7.1f} turns/s "
                    f"lost {result['check']['lost']} pending {result['check']['pending']}",
                    file=sys.stderr,
                )
    report = {k: summary(v) for k, v in reps.items()}
    report["_settings"] = {**vars(args), "loadavg_end": os.getloadavg()}
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": report, "reps": reps}, default=str))
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Intelligent-mode benchmark (issue 3, "Benchmarks"): ours vs Mem0 2.x, one command.

    python -m benchmarks.infer_bench            # the figures (~6-8 min on 2 cores)
    python -m benchmarks.infer_bench --quick    # a smoke run with small sizes

Workload (:mod:`benchmarks.infer_workload`): ``--users`` users (100) each send
``--messages`` chat messages (20): first-person statements the rule-based model extracts
facts from, later contradictions, a restatement, small talk and questions; deterministic.
The LLM is the loopback OpenAI-compatible server (``agentmem_plugins.testing.llm_server``)
on 127.0.0.1 and a free port, with ``--latency-ms`` (200) per call; by default it runs as
a subprocess (its own interpreter and GIL, like a real model server; ``--server
inprocess`` runs it on a thread of this process instead). Both systems use the offline
hash embedder. Every figure is the median over ``--repeats`` (>= 3) repetitions, each
on a fresh store; all results are written to ``benchmarks/results/infer.json`` and
``infer.md`` (``infer_quick.*`` with ``--quick``).

Runs, in this order, in one process:

1. ours, ``infer=True``: each user is a task handing its messages over one ``add`` call
   per message, back to back without waiting for the previous one (all users at once);
   each call returns once its facts are applied. Target >= 1,000 messages/s.
2. Mem0 2.x ``infer=True`` on the same workload and the same server (which answers
   Mem0's own prompts by the same rules), run by :mod:`benchmarks.infer_mem0` in the
   interpreter that has ``mem0ai`` (``--mem0-python``, default ``.bench/venv``): a pool of
   ``--mem0-workers`` threads (100: one per user), each user's adds one after the
   other. Target: ours >= 50x Mem0.
3. LLM calls and tokens (prompt + completion, as the server counts them) per message.
4. ours again with ``--fault-rate`` (10%) of calls failing, split evenly between 429
   (``Retry-After: --retry-after-s``), 500 and timeouts (the server holds the request
   ``--hang-s``; the client gives up after ``--fault-timeout-s``), plus
   ``--malformed-rate`` (5%) malformed answers: messages lost must be 0; then
   ``retry_pending()`` until nothing is pending. Reported: the throughput cost.

Every run is checked, not only timed (:func:`benchmarks.infer_ours.verify`): each add
returned, every stated fact is stored (or superseded in the same coalesced call), no
duplicates, and each user's valid facts equal the rules applied one message at a time.
Diagnostics (not targets): ours with each user awaiting every add (the discipline Mem0
is driven with), ours with ``add(wait=False)``, and one run with its awaited steps timed
(:class:`benchmarks.infer_experiments.Phases`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .infer_server import ServerHandle, cpu_seconds
from .infer_workload import workload

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_MEM0_PYTHON = ROOT / ".bench" / "venv" / "bin" / "python"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.infer_bench", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    p.add_argument("--users", type=int, default=None, help="default 100 (--quick: 20)")
    p.add_argument("--messages", type=int, default=None, help="per user; default 20")
    p.add_argument("--latency-ms", type=float, default=200.0, help="per LLM call")
    p.add_argument("--repeats", type=int, default=3, help="repetitions (>= 3; medians)")
    p.add_argument("--server", choices=("subprocess", "inprocess"), default="subprocess")
    p.add_argument(
        "--llm-concurrency",
        type=int,
        default=64,
        help="ours: MemoryConfig.llm_max_concurrency (default: the config default)",
    )
    p.add_argument(
        "--mem0-python",
        default=str(DEFAULT_MEM0_PYTHON),
        help="an interpreter with mem0ai and this project installed",
    )
    p.add_argument("--mem0-mode", choices=("sync", "async"), default="sync")
    p.add_argument("--mem0-workers", type=int, default=None, help="default: one per user")
    p.add_argument("--fault-rate", type=float, default=0.10, help="429 + 500 + timeout")
    p.add_argument("--malformed-rate", type=float, default=0.05)
    p.add_argument("--retry-after-s", type=float, default=0.2)
    p.add_argument("--hang-s", type=float, default=3.0)
    p.add_argument("--fault-timeout-s", type=float, default=2.0, help="ours: llm_timeout_s")
    p.add_argument("--skip-mem0", action="store_true")
    p.add_argument("--skip-faults", action="store_true")
    p.add_argument("--skip-diagnostics", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default=None, help="where temporary stores go")
    p.add_argument("--out", default=None, help="results path prefix (default results/infer)")
    args = p.parse_args(argv)
    if args.repeats < 3 and not args.quick:
        p.error("--repeats must be >= 3 (medians over at least three repetitions)")
    args.users = args.users or (20 if args.quick else 100)
    args.messages = args.messages or (10 if args.quick else 20)
    args.mem0_workers = args.mem0_workers or args.users
    args.out = Path(args.out) if args.out else RESULTS / ("infer_quick" if args.quick else "infer")
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    return args


# --- one family of runs ------------------------------------------------------------------


def run_ours_reps(
    args: argparse.Namespace,
    server: ServerHandle,
    scripts: list[Any],
    label: str,
    *,
    handover: str = "wait",
    timeout_s: float,
    retry_rounds: int = 0,
) -> list[dict[str, Any]]:
    from .infer_ours import run_ours

    reps = []
    for rep in range(args.repeats):
        server.wait_idle()
        server.reset_stats()
        cpu0 = cpu_seconds(server.pid)
        result = asyncio.run(
            run_ours(
                server.base_url,
                scripts,
                timeout_s=timeout_s,
                handover=handover,
                max_concurrency=args.llm_concurrency,
                workdir=args.workdir,
                retry_rounds=retry_rounds,
            )
        )
        stats = server.stats()
        cpu1 = cpu_seconds(server.pid)
        result["server"] = stats
        result["server_cpu_s"] = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
        result["rate"] = result["messages"] / result["elapsed_s"]
        c = result["check"]
        log(
            f"{label} rep {rep + 1}: {result['rate']:,.0f} msg/s ({result['elapsed_s']:.2f} s), "
            f"{stats['chat_requests']} LLM requests, users matching rules "
            f"{c['users_matching_rules']}/{c['users']}, lost {c['lost']}, pending {c['pending']}"
            + (
                f" -> after retry {result['retry']['check']['pending']}"
                if "retry" in result
                else ""
            )
        )
        reps.append(result)
    return reps


def run_mem0_reps(args: argparse.Namespace, server: ServerHandle) -> list[dict[str, Any]]:
    cmd = [
        args.mem0_python,
        "-m",
        "benchmarks.infer_mem0",
        "--base-url",
        server.base_url,
        "--users",
        str(args.users),
        "--messages",
        str(args.messages),
        "--repeats",
        str(args.repeats),
        "--workers",
        str(args.mem0_workers),
        "--mode",
        args.mem0_mode,
        "--seed",
        str(args.seed),
    ]
    if args.workdir:
        cmd += ["--workdir", args.workdir]
    server.wait_idle()
    # stderr to a file, never a pipe nobody reads (it could fill and block the run)
    with tempfile.TemporaryFile(mode="w+") as errlog:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errlog,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        reps = []
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            r["rate"] = r["messages"] / r["elapsed_s"]
            c = r["check"]
            log(
                f"mem0 rep {r['rep'] + 1}: {r['rate']:,.1f} msg/s ({r['elapsed_s']:.1f} s), "
                f"{r['server']['chat_requests']} LLM requests, errors {r['errors']}, users "
                f"matching rules {c['users_matching_rules']}/{c['users']}"
            )
            reps.append(r)
        proc.wait()
        errlog.seek(0)
        err = errlog.read()
    if proc.returncode:
        raise RuntimeError(f"the Mem0 run failed (exit {proc.returncode}):\n{err[-3000:]}")
    return reps


# --- summaries -----------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values)


def summarise(reps: list[dict[str, Any]]) -> dict[str, Any]:
    msgs = reps[0]["messages"]

    def per_msg(r: dict[str, Any], key: str) -> float:
        s = r["server"]
        value = s["prompt_tokens"] + s["completion_tokens"] if key == "tokens" else s[key]
        return value / msgs

    out: dict[str, Any] = {
        "messages": msgs,
        "rate_median": med([r["rate"] for r in reps]),
        "rate_all": [round(r["rate"], 1) for r in reps],
        "elapsed_median_s": med([r["elapsed_s"] for r in reps]),
        "client_cpu_median_s": med([r["client_cpu_s"] for r in reps]),
        "llm_requests_per_message": med([per_msg(r, "chat_requests") for r in reps]),
        "tokens_per_message": med([per_msg(r, "tokens") for r in reps]),
        "prompt_tokens_per_message": med([per_msg(r, "prompt_tokens") for r in reps]),
        "completion_tokens_per_message": med([per_msg(r, "completion_tokens") for r in reps]),
        "by_task": reps[len(reps) // 2]["server"]["by_task"],
        "by_outcome": reps[len(reps) // 2]["server"]["by_outcome"],
        "peak_requests_in_flight": max(r["server"]["peak_in_flight"] for r in reps),
    }
    if reps[0].get("server_cpu_s") is not None:
        out["server_cpu_median_s"] = med([r["server_cpu_s"] for r in reps])
    return out


def fmt_rate(s: dict[str, Any]) -> str:
    lo, hi = min(s["rate_all"]), max(s["rate_all"])
    return f"{s['rate_median']:,.0f} ({lo:,.0f}-{hi:,.0f})"


def markdown(report: dict[str, Any]) -> str:
    st = report["settings"]
    ours = report["ours"]
    lines = [
        "## Intelligent mode (issue 3): ours vs Mem0, loopback LLM server",
        "",
        f"`python -m benchmarks.infer_bench{' --quick' if st['quick'] else ''}`: "
        f"{st['users']} users x {st['messages']} messages, {st['latency_ms']:.0f} ms per LLM "
        f"call, medians of {st['repeats']} repetitions (min-max in brackets), "
        f"{report['environment']['cpu_count']} CPUs, load average "
        f"{report['environment']['loadavg_start'][0]:.2f} at start. LLM server: "
        f"{st['server']}. Embedder: the offline hash embedder for both.",
        "",
        "| figure | ours | Mem0 | target |",
        "| --- | --- | --- | --- |",
    ]
    m0 = report.get("mem0")
    ratio = report.get("ratio")
    lines.append(
        f"| messages/s, `infer=True` | {fmt_rate(ours)} | {fmt_rate(m0) if m0 else 'n/a'} | "
        f">= 1,000 (ours) |"
    )
    if ratio is not None:
        lines.append(f"| ours / Mem0 | {ratio:,.1f}x | | >= 50x |")
    for key, label, spec in (
        ("llm_requests_per_message", "LLM calls per message", ".3f"),
        ("tokens_per_message", "tokens per message (prompt + completion)", ",.0f"),
        ("prompt_tokens_per_message", "  of which prompt", ",.0f"),
        ("completion_tokens_per_message", "  of which completion", ",.1f"),
    ):
        other = format(m0[key], spec) if m0 else "n/a"
        lines.append(f"| {label} | {format(ours[key], spec)} | {other} | |")
    lines.append(
        f"| client process CPU s / wall s per run | {ours['client_cpu_median_s']:.1f} / "
        f"{ours['elapsed_median_s']:.1f} | "
        + (f"{m0['client_cpu_median_s']:.1f} / {m0['elapsed_median_s']:.1f}" if m0 else "n/a")
        + " | |"
    )
    oc, mc = ours["check"], (m0 or {}).get("check")
    lines.append(
        f"| users whose memories match the rules | {oc['users_matching_rules']}/{oc['users']} "
        f"(valid facts {oc['valid_facts']:,} = expected {oc['expected_valid_facts']:,}, "
        f"duplicates {oc['duplicate_valid_facts']}; invalidated {oc['invalidated']:,}, "
        f"{oc['invalidated_if_sequential']:,} if applied one message at a time) | "
        + (
            f"{mc['users_matching_rules']}/{mc['users']} (stored {mc['stored']:,}, "
            f"add-only: every stated fact; errors {m0['errors']}) |"
            if m0 and mc
            else "n/a |"
        )
        + " all |"
    )
    f = report.get("faults")
    if f:
        fc = f["check"]
        lines += [
            f"| fault run messages/s | {fmt_rate(f)} ({f['cost_pct']:+.0f}% vs clean) | | |",
            f"| fault run: messages lost | {f['lost_max']} (pending after the run: "
            f"{f['pending_max']}, after retry_pending: {f['pending_after_retry_max']}; users "
            f"matching rules {fc['users_matching_rules']}/{fc['users']}) | | 0 |",
            f"| fault run: LLM calls per message | {f['llm_requests_per_message']:.3f} "
            f"(outcomes {_outcomes(f['by_outcome'])}) | | |",
        ]
    lines += ["", "Diagnostics (not targets):", ""]
    if "phases" in ours:
        ph = ours["phases"]
        steps = "; ".join(
            f"{k}: {v['count']:,} x {v['mean_ms']:,.0f} ms" for k, v in ph["steps"].items()
        )
        lines.append(
            f"- ours, one instrumented run ({ph['elapsed_s']:.1f} s wall, "
            f"{ph['client_cpu_s']:.1f} s CPU): awaited steps, count x mean wall time "
            f"(queueing included): {steps}"
        )
    for d in report.get("diagnostics", []):
        lines.append(
            f"- {d['label']}: {fmt_rate(d)} messages/s, {d['llm_requests_per_message']:.3f} "
            f"LLM calls and {d['tokens_per_message']:,.0f} tokens per message, users matching "
            f"rules {d['check']['users_matching_rules']}/{d['check']['users']}"
            + (
                f"; {d['cost_pct']:+.0f}% vs the fix without faults, lost after retry "
                f"{d['lost_after_retry_max']}"
                if "cost_pct" in d
                else ""
            )
        )
    lines += ["", "Notes:", ""]
    for note in report.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def _outcomes(by_outcome: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in by_outcome.items() if v)


def check_summary(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """The check of the median-rate repetition, plus the worst counts over all."""
    ordered = sorted(reps, key=lambda r: r["rate"])
    return ordered[len(ordered) // 2]["check"]


def set_faults(args: argparse.Namespace, server: ServerHandle) -> None:
    """Run 4's faults: 429, 500 and timeouts a third of ``--fault-rate`` each, malformed."""
    third = args.fault_rate / 3
    server.configure(
        error_rate=2 * third,
        rate_limit_share=0.5,
        timeout_rate=third,
        malformed_rate=args.malformed_rate,
        retry_after_s=args.retry_after_s,
        hang_s=args.hang_s,
    )


def _lost_after_retry(reps: list[dict[str, Any]]) -> int:
    return max(r["retry"]["check"]["lost"] if "retry" in r else r["check"]["lost"] for r in reps)


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scripts = workload(args.users, args.messages, seed=args.seed)
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
    }
    with open("/proc/cpuinfo") as fh:
        env["cpu_model"] = next(
            (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), None
        )
    env["git_commit"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    from importlib.metadata import version

    env["versions"] = {k: version(k) for k in ("agentmem-plugins", "httpx", "httpcore", "lancedb")}
    report: dict[str, Any] = {
        "settings": {
            "quick": args.quick,
            "users": args.users,
            "messages": args.messages,
            "latency_ms": args.latency_ms,
            "repeats": args.repeats,
            "server": args.server,
            "llm_concurrency": args.llm_concurrency,
            "clean_llm_timeout_s": 60.0,
            "mem0_mode": args.mem0_mode,
            "mem0_workers": args.mem0_workers,
            "faults": {
                "rate_429": args.fault_rate / 3,
                "rate_500": args.fault_rate / 3,
                "rate_timeout": args.fault_rate / 3,
                "malformed": args.malformed_rate,
                "retry_after_s": args.retry_after_s,
                "hang_s": args.hang_s,
                "llm_timeout_s": args.fault_timeout_s,
                "retries": "MemoryConfig defaults: llm_max_retries 5, llm_max_reasks 2, "
                "first retry after 0.1-0.25 s, doubling (jitter x1-2.5), Retry-After "
                "honoured, capped at 20 s; hedged copies past the 95th percentile",
            },
        },
        "environment": env,
        "notes": [],
    }
    log(
        f"{args.users} users x {args.messages} messages, {args.latency_ms:.0f} ms per call, "
        f"{args.repeats} repetitions, server {args.server}"
    )
    with ServerHandle(args.server, latency_ms=args.latency_ms, seed=args.seed) as server:
        # 1 + 3: ours, clean
        reps = run_ours_reps(args, server, scripts, "ours", timeout_s=60.0)
        report["ours"] = {**summarise(reps), "check": check_summary(reps), "reps": reps}
        if not args.skip_diagnostics:  # one more run, instrumented, not in the medians
            from .infer_experiments import Phases
            from .infer_ours import run_ours

            phases = Phases()
            server.wait_idle()
            timed = asyncio.run(
                run_ours(
                    server.base_url,
                    scripts,
                    max_concurrency=args.llm_concurrency,
                    workdir=args.workdir,
                    phases=phases,
                )
            )
            report["ours"]["phases"] = {
                "elapsed_s": round(timed["elapsed_s"], 2),
                "client_cpu_s": round(timed["client_cpu_s"], 2),
                "steps": phases.report(),
            }
            log(f"ours, instrumented run: {report['ours']['phases']}")
        # 2 + 3: Mem0
        if not args.skip_mem0:
            if not Path(args.mem0_python).exists():
                report["notes"].append(f"Mem0 skipped: {args.mem0_python} not found")
                log(report["notes"][-1])
            else:
                m_reps = run_mem0_reps(args, server)
                report["mem0"] = {
                    **summarise(m_reps),
                    "check": check_summary(m_reps),
                    "reps": m_reps,
                    "errors": max(r["errors"] for r in m_reps),
                    "versions": m_reps[0]["versions"],
                    "config": {
                        "mode": args.mem0_mode,
                        "workers": args.mem0_workers,
                        "qdrant_lock": m_reps[0]["qdrant_lock"],
                    },
                }
                report["ratio"] = report["ours"]["rate_median"] / report["mem0"]["rate_median"]
        # 4: faults
        if not args.skip_faults:
            set_faults(args, server)
            f_reps = run_ours_reps(
                args,
                server,
                scripts,
                "ours, faults",
                timeout_s=args.fault_timeout_s,
                retry_rounds=5,
            )
            server.configure(error_rate=0.0, timeout_rate=0.0, malformed_rate=0.0)
            fs = summarise(f_reps)
            report["faults"] = {
                **fs,
                "check": check_summary(f_reps),
                "reps": f_reps,
                "cost_pct": 100 * (fs["rate_median"] / report["ours"]["rate_median"] - 1),
                "lost_max": max(r["check"]["lost"] for r in f_reps),
                "pending_max": max(r["check"]["pending"] for r in f_reps),
                "pending_after_retry_max": max(
                    r["retry"]["check"]["pending"] if "retry" in r else r["check"]["pending"]
                    for r in f_reps
                ),
                "lost_after_retry_max": _lost_after_retry(f_reps),
            }
        # diagnostics
        report["diagnostics"] = []
        if not args.skip_diagnostics:
            runs = [  # (label, hand-over)
                (
                    "ours, each user awaiting every add (no coalescing; Mem0's discipline)",
                    "sequential",
                ),
                (
                    "ours, each user awaiting every add(wait=False) hand-over, clock stopped "
                    "after flush()",
                    "nowait",
                ),
            ]
            for label, handover in runs:
                d_reps = run_ours_reps(
                    args, server, scripts, label.split(" (")[0], handover=handover, timeout_s=60.0
                )
                report["diagnostics"].append(
                    {
                        "label": label,
                        **summarise(d_reps),
                        "check": check_summary(d_reps),
                        "reps": d_reps,
                    }
                )
    env["loadavg_end"] = os.getloadavg()
    _notes(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(report, indent=2, default=str))
    md = markdown(report)
    Path(f"{args.out}.md").write_text(md)
    print(md)
    log(f"wrote {args.out}.json and {args.out}.md")
    ok = (
        report["ours"]["check"]["lost"] == 0
        and ("faults" not in report or report["faults"]["lost_after_retry_max"] == 0)
        and all(d.get("lost_after_retry_max", 0) == 0 for d in report["diagnostics"])
    )
    return 0 if ok else 1


def _notes(report: dict[str, Any]) -> None:
    notes = report["notes"]
    ours = report["ours"]
    notes.append(
        "ours: each user's messages handed over back to back (one add per message, not "
        "awaited in between) are coalesced: "
        f"{ours['llm_requests_per_message']:.3f} LLM calls per message "
        f"({_outcomes(ours['by_task'])})"
    )
    st = report["settings"]
    notes.append(
        f"LLM server: {st['server']}"
        + (
            " (own interpreter and GIL, like a real model server); Mem0 always runs in its "
            "own process, so it never shares a GIL with the server"
            if st["server"] == "subprocess"
            else " (a thread of the benchmark process: it shares ours' GIL)"
        )
    )
    if "faults" in report:
        fl = st["faults"]
        f = report["faults"]
        notes.append(
            f"fault run: {fl['rate_429']:.1%} 429 (Retry-After {fl['retry_after_s']} s), "
            f"{fl['rate_500']:.1%} 500, {fl['rate_timeout']:.1%} timeouts (held "
            f"{fl['hang_s']} s, client llm_timeout_s {fl['llm_timeout_s']}), "
            f"{fl['malformed']:.0%} malformed; retries: {fl['retries']}; lost = adds that "
            "raised + parked ids not listed as pending + stated facts absent from the store "
            "(valid or invalidated) with no newer value of the same relation; after the run "
            f"retry_pending() until nothing is pending (worst repetition: lost "
            f"{f['lost_after_retry_max']}, pending {f['pending_after_retry_max']})"
            + (
                f"; errors of parked work: {f['check']['pending_errors']}"
                if f["check"].get("pending_errors")
                else ""
            )
        )
    if "mem0" in report:
        m = report["mem0"]
        notes.append(
            f"Mem0 {m['versions']['mem0ai']} (qdrant-client {m['versions']['qdrant-client']}, "
            f"openai {m['versions']['openai']}): Memory.add(infer=True) from "
            f"{m['config']['workers']} threads ({m['config']['mode']} API), one user per "
            "thread, adds in order; openai provider with openai_base_url = the loopback "
            "server, langchain embedder wrapping HashEmbedder, local Qdrant in a temp dir"
            + (
                " behind one lock (local Qdrant is not thread-safe: without it concurrent adds "
                "failed with IndexError)"
                if m["config"]["qdrant_lock"]
                else ""
            )
            + "; Mem0 2.x makes one LLM call per add and only adds (contradicted facts stay "
            "valid); telemetry off; spaCy absent (entity linking and lemmatisation skipped) "
            "and its BM25 encoder cannot load offline: both would add work to Mem0"
        )


def rewrite_markdown(json_path: str) -> str:
    """Re-render the Markdown table of a saved ``infer*.json`` (no re-run)."""
    report = json.loads(Path(json_path).read_text())
    md = markdown(report)
    Path(json_path).with_suffix(".md").write_text(md)
    return md


if __name__ == "__main__":
    sys.exit(main())

"""The LLM side of issue 13's workload alone: what its fault mix leaves for the rest.

Issue 13's workload (:mod:`benchmarks.infer_faults`: 100 users x 20 turns, 200 ms per
call, 10% failing calls, 5% malformed answers, the loopback server in its own process),
but each turn is only its extract-and-decide call: the prompt the pipeline builds for
the message (no stored memories shown), sent with the store's own retries, re-asks,
hedging and concurrency bound (``call_json``, ``ConcurrencyLimit``, ``LatencyHedge``,
the built-in aiohttp client), and nothing else: no embedding, no neighbour read, no
write. Each user awaits every call before the next, as ``sequential`` does, so the
figure is the ceiling "each add waiting" could reach on this machine if the store's own
work cost nothing. ``--handover nowait`` sends each user's messages as the pipeline
groups them when they are handed over without the quiet wait
(``infer_handover_quiet_ms=0``; measured: two calls per user, the first message alone,
then the other 19, which arrive while it is processed), so the figure bounds "handed
over" with that grouping (with the wait, the default, the pipeline makes one call per
user)::

    python -m benchmarks.infer_ceiling [--repeats 3] [--max-concurrency 64] [--handover nowait]

Reported: turns/s per run (and median), the mean call, the median user's 20 calls and
the slowest user's (the run ends with it), requests per turn, and calls that failed
after every retry and re-ask (the pipeline would park their turns as pending work).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from agentmem_plugins import LLMResponseError, LLMTransientError, MemoryConfig, Message
from agentmem_plugins.infer.prompts import build_extract_decide_messages
from agentmem_plugins.infer.schema import ExtractDecideAnswer
from agentmem_plugins.llms import ConcurrencyLimit, LatencyHedge, OpenAIChatModel, call_json

from .infer_server import ServerHandle, add_workload_args
from .infer_workload import workload

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


async def one_run(
    base_url: str, users: int, turns: int, max_concurrency: int, handover: str
) -> dict[str, Any]:
    # build(): keyword overrides, the way Memory(**fields) takes them (a direct
    # MemoryConfig(...) call reads to mypy as missing every Field(default, ...) argument)
    config = MemoryConfig.build(
        llm_base_url=base_url,
        llm_model="agentmem-rules",
        llm_timeout_s=2.0,
        llm_max_concurrency=max_concurrency,
    )
    llm = OpenAIChatModel.from_config(config)
    limit = ConcurrencyLimit(config.llm_max_concurrency, config.llm_hedge_room)
    assert config.llm_hedge_percentile is not None
    hedge = LatencyHedge(config.llm_hedge_percentile)
    calls: list[float] = []
    per_user: list[float] = []
    failed: list[str] = []

    async def user(texts: list[str]) -> None:
        started = time.perf_counter()
        context: list[Message] = []
        said = [
            Message(role="user", content=text, observed_at=T0 + timedelta(minutes=i))
            for i, text in enumerate(texts)
        ]
        # one call per message; handed over, the pipeline's groups: the first message
        # alone, then the rest, which arrived while it was processed
        groups = [said[:1], said[1:]] if handover == "nowait" else [[m] for m in said]
        for group in groups:
            prompt = build_extract_decide_messages(
                group, [], context=context[-6:], now=group[-1].observed_at
            )
            t = time.perf_counter()
            try:
                await call_json(
                    llm,
                    prompt.messages,
                    schema=ExtractDecideAnswer,
                    max_retries=config.llm_max_retries,
                    max_wait_s=config.llm_retry_max_wait_s,
                    max_reasks=config.llm_max_reasks,
                    limit=limit,
                    hedge=hedge,
                )
            except (LLMResponseError, LLMTransientError):  # the pipeline parks these
                failed.append(group[0].content)
            calls.append(time.perf_counter() - t)
            context.extend(group)
        per_user.append(time.perf_counter() - started)

    scripts = workload(users, turns, seed=0)
    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(user(s.messages) for s in scripts))
        elapsed = time.perf_counter() - t0
    finally:
        await llm.aclose()
    return {
        "turns_per_s": users * turns / elapsed,
        "elapsed_s": elapsed,
        "mean_call_ms": 1000 * statistics.mean(calls),
        "median_user_s": statistics.median(per_user),
        "slowest_user_s": max(per_user),
        "hedged": hedge.hedged,
        "calls_failed": len(failed),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_workload_args(p)
    p.add_argument("--max-concurrency", type=int, default=64)
    p.add_argument("--handover", default="sequential", choices=("sequential", "nowait"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    runs = []
    for _ in range(args.repeats):
        with ServerHandle("subprocess", latency_ms=args.latency_ms, seed=0) as server:
            server.issue13_faults(args.fault_rate, args.malformed_rate)
            run = asyncio.run(
                one_run(
                    server.base_url, args.users, args.messages, args.max_concurrency, args.handover
                )
            )
            run["llm_requests_per_turn"] = server.stats()["chat_requests"] / (
                args.users * args.messages
            )
        runs.append({k: round(v, 3) for k, v in run.items()})
    result = {
        "turns_per_s_median": round(statistics.median(r["turns_per_s"] for r in runs), 1),
        "runs": runs,
        "settings": vars(args),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

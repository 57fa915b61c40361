"""One run of agentmem-plugins intelligent mode over the benchmark workload.

Each user is one asyncio task that hands its messages over one ``add`` call per message,
back to back, without waiting for the previous one (``asyncio.create_task`` per call;
the calls of one user are queued in order), the way an agent hands each message over
as it arrives; all users run concurrently. ``handover="wait"`` (the headline): each call
is ``add(..., wait=True)`` and returns once its facts are applied (or parked as pending
work), so the clock stops when every message has been processed. ``"nowait"``: each
user awaits ``add(..., wait=False)`` per message (it returns once the input is durable
as a pending-work row) before handing over the next, and the clock stops after
``flush()``. (Issuing one user's ``wait=False`` calls concurrently is not safe today:
each call awaits its pending-row write before it joins the scope's queue, so the calls
can join out of order and an older "I live in A" can win over a newer "I live in B".)
``"sequential"``: each user awaits each ``add(wait=True)`` before sending the next (no
coalescing possible; how Mem0's sync API is driven).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from agentmem_plugins import AsyncMemory
from agentmem_plugins.testing import rules

from .infer_workload import Expected, UserScript, expected_state

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


def observed(i: int) -> datetime:
    """When message ``i`` of a user was said (a minute apart)."""
    return T0 + timedelta(minutes=i)


async def run_ours(
    base_url: str,
    scripts: list[UserScript],
    *,
    timeout_s: float = 60.0,
    max_concurrency: int = 64,
    handover: str = "wait",
    workdir: str | None = None,
    retry_rounds: int = 5,
    profile: Any = None,
    phases: Any = None,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    path = tempfile.mkdtemp(prefix="agentmem-infer-bench-", dir=workdir)
    logging.getLogger("agentmem_plugins").setLevel(logging.ERROR)
    memory = AsyncMemory(
        path=path,
        embedder="hash",
        llm_base_url=base_url,
        llm_model="agentmem-rules",
        llm_timeout_s=timeout_s,
        **{"llm_max_concurrency": max_concurrency, **(config or {})},
    )
    try:
        # warm-up outside the clock: the embedder's caches, the stores' first write
        await memory.add("warm-up", user_id="bench-warmup", infer=False)
        if phases is not None:
            phases.attach(memory)
        outcomes: dict[str, list[Any]] = {s.user_id: [] for s in scripts}

        async def user(script: UserScript) -> None:
            if handover in ("sequential", "nowait"):  # one add after the other
                for i, text in enumerate(script.messages):
                    try:
                        outcomes[script.user_id].append(
                            await memory.add(
                                text,
                                user_id=script.user_id,
                                infer=True,
                                observed_at=observed(i),
                                wait=handover == "sequential",
                            )
                        )
                    except Exception as exc:  # counted as lost by verify()
                        outcomes[script.user_id].append(exc)
                return
            calls = [
                asyncio.create_task(
                    memory.add(
                        text,
                        user_id=script.user_id,
                        infer=True,
                        observed_at=observed(i),
                        wait=handover == "wait",
                    )
                )
                for i, text in enumerate(script.messages)
            ]
            outcomes[script.user_id] = list(await asyncio.gather(*calls, return_exceptions=True))

        if profile is not None:
            profile.enable()
        t0 = time.perf_counter()
        c0 = _cpu()
        await asyncio.gather(*(user(s) for s in scripts))
        await memory.flush()
        elapsed = time.perf_counter() - t0
        cpu = _cpu() - c0
        if profile is not None:
            profile.disable()
        pipeline = memory._infer
        result: dict[str, Any] = {
            "elapsed_s": elapsed,
            "client_cpu_s": cpu,
            "messages": sum(len(s.messages) for s in scripts),
            "llm_calls_client": pipeline.llm_calls if pipeline else 0,
            "peak_llm_in_flight": pipeline._limit.peak if pipeline else 0,
        }
        result["check"] = await verify(memory, scripts, outcomes, handover)
        if result["check"]["pending"] and retry_rounds:
            rounds = 0
            t1 = time.perf_counter()
            while rounds < retry_rounds and await memory.pending():
                rounds += 1
                await memory.retry_pending()
                await memory.flush()
            result["retry"] = {
                "rounds": rounds,
                "elapsed_s": time.perf_counter() - t1,
                "check": await verify(memory, scripts, None, handover),
            }
        result["users_without_memories"] = sum(
            [await memory.count(user_id=s.user_id) == 0 for s in scripts]
        )
        hedge = getattr(pipeline, "_hedge", None) if pipeline else None
        if hedge is not None:
            result["hedged"], result["hedge_wins"] = hedge.hedged, hedge.hedge_wins
        return result
    finally:
        with contextlib.suppress(Exception):
            await memory.close()
        shutil.rmtree(path, ignore_errors=True)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


async def verify(
    memory: AsyncMemory,
    scripts: list[UserScript],
    outcomes: dict[str, list[Any]] | None,
    handover: str,
) -> dict[str, Any]:
    """Account for every message and compare each user's memories with the rules.

    * every ``add`` returned (no exception); with ``wait=True`` each returned either its
      group's events or a ``pending_id`` that is listed by ``pending()``;
    * every fact a user stated is in the store (valid or invalidated), unless a later
      statement of the same single-valued relation (same subject key) is valid: such a
      fact may never be stored when both came in one coalesced extraction call;
    * the valid facts equal :func:`expected_state` (the rules applied one message at a
      time), with no duplicates.
    """
    pending = await memory.pending()
    pending_ids = {p.id for p in pending}
    pending_users = {p.user_id for p in pending}
    raised = parked = unlisted = 0
    if outcomes is not None:
        for results in outcomes.values():
            for r in results:
                if isinstance(r, BaseException):
                    raised += 1
                elif r.pending_id is not None and handover != "nowait":
                    parked += 1
                    unlisted += r.pending_id not in pending_ids
    users_ok = missing = duplicates = 0
    valid_total = invalid_total = expected_valid = expected_invalid = 0
    mismatches: list[dict[str, Any]] = []
    for script in scripts:
        exp: Expected = expected_state(script)
        items = await memory.get_all(user_id=script.user_id, limit=None, include_invalidated=True)
        valid = [rules.normalise(m.text) for m in items if m.invalid_at is None]
        stored = {rules.normalise(m.text) for m in items}
        valid_set = set(valid)
        duplicates += len(valid) - len(valid_set)
        valid_total += len(valid)
        invalid_total += sum(m.invalid_at is not None for m in items)
        expected_valid += len(exp.valid)
        expected_invalid += exp.invalidated
        if script.user_id not in pending_users:
            keys_valid = {rules.subject_key(t) for t in valid_set} - {None}
            missing += sum(
                1 for f in exp.stated if f not in stored and rules.subject_key(f) not in keys_valid
            )
        if valid_set == exp.valid and len(valid) == len(valid_set):
            users_ok += 1
        elif len(mismatches) < 3:
            mismatches.append(
                {
                    "user": script.user_id,
                    "unexpected": sorted(valid_set - exp.valid),
                    "absent": sorted(exp.valid - valid_set),
                }
            )
    return {
        "users": len(scripts),
        "users_matching_rules": users_ok,
        "adds_raised": raised,
        "adds_parked": parked,
        "parked_not_listed": unlisted,
        "pending": len(pending),
        "pending_messages": sum(len(p.messages) for p in pending),
        "users_with_pending": len(pending_users),
        "pending_errors": sorted({(p.error or "")[:160] for p in pending})[:3],
        "facts_missing": missing,
        "duplicate_valid_facts": duplicates,
        "valid_facts": valid_total,
        "expected_valid_facts": expected_valid,
        "invalidated": invalid_total,
        "invalidated_if_sequential": expected_invalid,
        "mismatches": mismatches,
        "lost": raised + unlisted + missing,
    }

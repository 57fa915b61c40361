"""Intelligent mode: extract facts, retrieve neighbours, decide, apply.

Per call: at most two LLM calls (extraction, then decision; the decision is skipped
when nothing similar is stored). Messages queued for one scope while its previous work
is in flight are coalesced into a single extraction call, so a chatty user costs a
handful of calls, not two per message. Work of one scope is serialised (two updates of
the same user's memories never race, and the duplicate check runs inside that
serialisation); different scopes run concurrently under one global bound on LLM calls
in flight. When the LLM fails after its retries, the input is recorded as pending work
(DESIGN invariant 4) and :meth:`InferPipeline.retry_pending` replays it; the apply step
is one write batch, so nothing is ever half-applied.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from .._types import AddResult, MemoryEvent, MemoryItem, Message, PendingWork
from .._writer import Upsert, WriteRequest, now_utc
from ..llms import ConcurrencyLimit, call_json
from ..storage import utc
from .prompts import build_decision_messages, build_extraction_messages, map_decisions
from .schema import AddOp, DecisionAnswer, ExtractedFact, ExtractionAnswer, InvalidateOp, UpdateOp

if TYPE_CHECKING:
    from .._memory import AsyncMemory

__all__ = ["InferPipeline"]

log = logging.getLogger("agentmem_plugins")
ScopeKey = tuple[tuple[str, str], ...]
MAX_MESSAGES_PER_CALL = 40


@dataclass
class _Job:
    messages: list[Message]
    metadata: dict[str, Any]
    future: asyncio.Future[AddResult]
    pending_id: str | None = None  # set when the input is already recorded as pending
    attempts: int = 0
    recorded: asyncio.Task[str] | None = None  # the write of that pending record


@dataclass
class _ScopeQueue:
    jobs: list[_Job] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    context: deque[Message] = field(default_factory=deque)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".!")


class InferPipeline:
    """Owned by one :class:`~agentmem_plugins.AsyncMemory`; built on first use."""

    def __init__(self, memory: AsyncMemory, llm: Any) -> None:
        self._memory = memory
        self._llm = llm
        self._cfg = memory.config
        self._limit = ConcurrencyLimit(self._cfg.llm_max_concurrency)
        self._queues: dict[ScopeKey, _ScopeQueue] = {}
        self._detached: set[asyncio.Future[AddResult]] = set()
        self.llm_calls = 0

    # --- entry points ------------------------------------------------------------------

    async def add(
        self,
        messages: list[Message],
        scope: dict[str, str],
        metadata: dict[str, Any],
        *,
        wait: bool,
    ) -> AddResult:
        job = _Job(messages, metadata, asyncio.get_running_loop().create_future())
        if not wait:
            # Acknowledged before the LLM runs, so the input must be durable before we
            # return; but the job joins its scope's queue now, in call order, while the
            # record is written (the worker waits for that write before clearing it).
            job.pending_id = uuid.uuid4().hex
            job.recorded = asyncio.create_task(
                self._record_pending(job, scope, error=None, pending_id=job.pending_id)
            )
        self._enqueue(scope, job)
        if wait:
            return await job.future
        assert job.recorded is not None
        await job.recorded
        self._detached.add(job.future)
        job.future.add_done_callback(self._detached.discard)
        return AddResult(pending_id=job.pending_id)

    async def pending(self) -> list[PendingWork]:
        rows = await self._memory._io(self._memory._stores.records.list_pending)
        return [
            PendingWork(
                id=r["id"],
                user_id=r["user_id"],
                agent_id=r["agent_id"],
                run_id=r["run_id"],
                messages=[Message.model_validate(m) for m in r["messages"]],
                metadata=r["metadata"] or {},
                error=r["error"],
                attempts=r["attempts"],
                created_at=utc(r["created_at"]),
            )
            for r in rows
        ]

    async def retry_pending(self) -> list[AddResult]:
        """Replay every pending item that is not queued right now."""
        queued = {j.pending_id for q in self._queues.values() for j in q.jobs}
        loop = asyncio.get_running_loop()
        futures = []
        for work in await self.pending():
            if work.id in queued:
                continue
            scope = {k: v for k in ("user_id", "agent_id", "run_id") if (v := getattr(work, k))}
            job = _Job(
                work.messages,
                work.metadata,
                loop.create_future(),
                pending_id=work.id,
                attempts=work.attempts,
            )
            self._enqueue(scope, job)
            futures.append(job.future)
        return list(await asyncio.gather(*futures))

    async def drain(self) -> None:
        while True:
            workers = [q.worker for q in self._queues.values() if q.worker and not q.worker.done()]
            if not workers and not self._detached:
                return
            await asyncio.gather(*workers, *list(self._detached), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        closer = getattr(self._llm, "aclose", None)
        if closer is not None and self._cfg.llm is None:  # we built it, we close it
            await closer()

    # --- per-scope serialisation and coalescing ----------------------------------------

    def _enqueue(self, scope: dict[str, str], job: _Job) -> None:
        key: ScopeKey = tuple(sorted(scope.items()))
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _ScopeQueue(
                context=deque(maxlen=max(self._cfg.context_messages, 0) or None)
            )
        queue.jobs.append(job)
        if queue.worker is None or queue.worker.done():
            queue.worker = asyncio.create_task(self._work(key, queue, scope))

    async def _work(self, key: ScopeKey, queue: _ScopeQueue, scope: dict[str, str]) -> None:
        while queue.jobs:
            group = self._take_group(queue)
            try:
                result = await self._process(scope, group, queue.context)
            except Exception as exc:  # LLM or store failure: the input is parked, not lost
                await self._park(scope, group, exc)
                continue
            for job in group:
                try:
                    await self._clear_pending(job)
                except Exception:  # applied, but its pending record stays: replay dedups
                    log.exception("could not clear pending record %s", job.pending_id)
                if not job.future.done():
                    job.future.set_result(result)
        if not queue.jobs and self._queues.get(key) is queue and not queue.context:
            del self._queues[key]

    async def _clear_pending(self, job: _Job) -> None:
        if job.recorded is not None:
            await job.recorded
        if job.pending_id is not None:
            await self._memory._io(self._memory._stores.records.delete_pending, job.pending_id)

    def _take_group(self, queue: _ScopeQueue) -> list[_Job]:
        """The next jobs to share one extraction call: same metadata, bounded size."""
        first = queue.jobs.pop(0)
        group, count = [first], len(first.messages)
        marker = json.dumps(first.metadata, sort_keys=True)
        rest = []
        for job in queue.jobs:
            fits = count + len(job.messages) <= MAX_MESSAGES_PER_CALL
            if fits and json.dumps(job.metadata, sort_keys=True) == marker:
                group.append(job)
                count += len(job.messages)
            else:
                rest.append(job)
        queue.jobs[:] = rest
        return group

    async def _park(self, scope: dict[str, str], group: list[_Job], exc: Exception) -> None:
        """Record the group's input as pending work with its error (invariant 4)."""
        log.warning("intelligent mode failed for %s; input kept as pending work: %s", scope, exc)
        for job in group:
            job.attempts += 1
            try:
                if job.recorded is not None:
                    await job.recorded
                if job.pending_id is None:
                    job.pending_id = await self._record_pending(job, scope, error=str(exc))
                else:
                    await self._memory._io(
                        self._memory._stores.records.update_pending,
                        job.pending_id,
                        error=str(exc),
                        attempts=job.attempts,
                    )
            except Exception as store_exc:  # cannot even park it: the caller must know
                if not job.future.done():
                    job.future.set_exception(store_exc)
                continue
            if not job.future.done():
                job.future.set_result(AddResult(pending_id=job.pending_id))

    async def _record_pending(
        self, job: _Job, scope: dict[str, str], *, error: str | None, pending_id: str | None = None
    ) -> str:
        pending_id = pending_id or uuid.uuid4().hex
        row = {
            "id": pending_id,
            **{k: scope.get(k) for k in ("user_id", "agent_id", "run_id")},
            "messages": [m.model_dump(mode="json", exclude_none=True) for m in job.messages],
            "metadata": job.metadata,
            "error": error,
            "attempts": job.attempts,
            "created_at": now_utc(),
        }
        await self._memory._io(self._memory._stores.records.add_pending, row)
        return pending_id

    # --- the pipeline ------------------------------------------------------------------

    async def _ask(self, messages: list[Any], schema: Any) -> Any:
        self.llm_calls += 1
        return await call_json(
            self._llm,
            messages,
            schema=schema,
            max_retries=self._cfg.llm_max_retries,
            max_wait_s=self._cfg.llm_retry_max_wait_s,
            max_reasks=self._cfg.llm_max_reasks,
            limit=self._limit,
        )

    async def _process(
        self, scope: dict[str, str], group: list[_Job], context: deque[Message]
    ) -> AddResult:
        messages = [m for job in group for m in job.messages]
        now = _newest(messages)
        # 1. extract
        extraction = await self._ask(
            build_extraction_messages(
                messages,
                context=list(context),
                now=now,
                instructions=self._cfg.extraction_instructions,
            ),
            ExtractionAnswer,
        )
        context.extend(messages)
        facts = _unique(extraction.facts)
        if not facts:
            return AddResult()
        # 2. retrieve: one embedding batch, nearest memories of this scope for each fact
        vectors = await self._memory._runner.documents([f.text for f in facts])
        neighbours = await self._neighbours(vectors, scope)
        # the duplicate check, inside this scope's serialisation
        known = {_norm(m.text): m for m in neighbours}
        fresh = [f for f in facts if _norm(f.text) not in known]
        events = [
            MemoryEvent(
                id=known[_norm(f.text)].id, text=f.text, event="NONE", reason="already known"
            )
            for f in facts
            if _norm(f.text) in known
        ]
        if not fresh:
            return AddResult(results=events)
        fresh_vectors = {f.text: vectors[facts.index(f)] for f in fresh}
        # 3. decide (only when something similar is stored)
        if neighbours:
            prompt = build_decision_messages(fresh, neighbours, now=now)
            answer = await self._ask(prompt.messages, DecisionAnswer)
            ops = map_decisions(answer, prompt.id_map, fresh)
        else:
            ops = [AddOp(i, f.text, f.observed_at, "new information") for i, f in enumerate(fresh)]
        # 4. apply: one write batch
        by_id = {m.id: m for m in neighbours}
        request = WriteRequest()
        for op in ops:
            if isinstance(op, AddOp):
                request.upserts.append(
                    Upsert(
                        text=op.text,
                        scope=scope,
                        metadata=dict(group[0].metadata),
                        vector=fresh_vectors.get(op.text),
                        observed_at=_naive(op.observed_at or now),
                        reason=op.reason,
                        role="user",
                        expires_at=self._memory.default_expiry(),
                    )
                )
            elif isinstance(op, UpdateOp) and op.memory_id in by_id:
                old = by_id[op.memory_id]
                request.upserts.append(
                    Upsert(
                        text=op.text,
                        scope=_scope_of(old),
                        metadata=dict(old.metadata),
                        vector=fresh_vectors.get(op.text),
                        id=old.id,
                        must_exist=True,
                        observed_at=_naive(op.observed_at or now),
                        reason=op.reason,
                        role="user",
                        expires_at=_naive(old.expires_at),  # an update keeps the expiry
                    )
                )
            elif isinstance(op, InvalidateOp):
                request.invalidations.append(
                    (op.memory_id, op.reason, _naive(op.observed_at or now))
                )
            else:
                events.append(
                    MemoryEvent(
                        id=getattr(op, "memory_id", None) or "",
                        text=fresh[op.fact].text,
                        event="NONE",
                        reason=getattr(op, "reason", None),
                    )
                )
        if request.upserts or request.invalidations:
            events = await self._memory._writer.submit(request) + events
        return AddResult(results=events)

    async def _neighbours(self, vectors: np.ndarray, scope: dict[str, str]) -> list[MemoryItem]:
        per_fact = await self._memory._searcher.vector_many(
            vectors, scope, self._cfg.neighbours_per_fact
        )
        unique: dict[str, MemoryItem] = {}
        for hits in per_fact:
            for hit in hits:
                unique.setdefault(hit.id, hit)
        return list(unique.values())


def _newest(messages: Sequence[Message]) -> datetime:
    times = [m.observed_at for m in messages if m.observed_at is not None]
    newest = max(times) if times else datetime.now(timezone.utc).replace(tzinfo=None)
    return newest.replace(tzinfo=timezone.utc)


def _naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _unique(facts: Sequence[ExtractedFact]) -> list[ExtractedFact]:
    seen: dict[str, ExtractedFact] = {}
    for fact in facts:
        seen.setdefault(_norm(fact.text), fact)
    return list(seen.values())


def _scope_of(item: MemoryItem) -> dict[str, str]:
    return {k: v for k in ("user_id", "agent_id", "run_id") if (v := getattr(item, k))}

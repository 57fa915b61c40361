"""Intelligent mode: extract facts, retrieve neighbours, decide, apply.

Per call: at most two LLM calls (extraction, then decision; the decision is skipped
when nothing is stored nearby and there is one fact, or when every fact restates a memory
holding at its time). The decision relates facts to stored neighbours and to each other;
:func:`~agentmem_plugins.infer.timeline.reconcile` then applies them in valid-time order
(DESIGN invariant 8), and each caller gets the events its own messages caused.
Messages queued for one scope while its previous work is in flight are coalesced into a
single extraction call, so a chatty user costs a handful of calls, not two per message.
Work of one scope is serialised (two updates of the same user's memories never race, and
the duplicate check runs inside that serialisation); different scopes run concurrently
under one per-store bound on LLM calls in flight. When the LLM fails after its retries, the
input is recorded as pending work (DESIGN invariant 4) and
:meth:`InferPipeline.retry_pending` replays it; the apply step is one write batch, so
nothing is ever half-applied.
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
from typing import Any

import numpy as np

from .. import _expiry
from .._config import MemoryConfig
from .._embedding_runner import EmbeddingRunner
from .._errors import ConfigError
from .._expiry import default_expiry
from .._io import IO
from .._search import Searcher
from .._store import Stores
from .._time import naive_utc as _naive
from .._types import AddResult, MemoryEvent, MemoryItem, Message, PendingWork
from .._validation import SCOPE_FIELDS
from .._writer import Upsert, Writer, WriteRequest
from ..llms import ChatModel, ConcurrencyLimit, LatencyHedge, call_json
from ..storage import utc
from .prompts import build_decision_messages, build_extraction_messages, map_relations
from .schema import DecisionAnswer, ExtractedFact, ExtractionAnswer
from .timeline import NewFact, Relation, StoredFact, reconcile

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
    """Owned by one :class:`~agentmem_plugins.AsyncMemory`; built on first use.

    Its collaborators are the memory's own, passed in: ``stores`` (read pending work and
    records), ``writer`` (apply decisions as one batch), ``searcher`` (neighbours),
    ``runner`` (embed facts) and ``io`` (run blocking store calls off the loop).
    ``llm`` may be ``None`` only to list pending work.
    """

    def __init__(
        self,
        *,
        config: MemoryConfig,
        llm: ChatModel | None,
        stores: Stores,
        writer: Writer,
        searcher: Searcher,
        runner: EmbeddingRunner,
        io: IO,
    ) -> None:
        self._llm = llm
        self._cfg = config
        self._stores = stores
        self._writer = writer
        self._searcher = searcher
        self._runner = runner
        self._io = io
        self._limit = ConcurrencyLimit(self._cfg.llm_max_concurrency)
        percentile = self._cfg.llm_hedge_percentile
        self._hedge = LatencyHedge(percentile) if percentile is not None else None
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
        # stamped now, so a replay from pending work keeps the time it was said
        stamp = _expiry.utc_now()
        messages = [
            m if m.observed_at else m.model_copy(update={"observed_at": stamp}) for m in messages
        ]
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
        rows = await self._io(self._stores.records.list_pending)
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
            scope = {k: v for k in SCOPE_FIELDS if (v := getattr(work, k))}
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
                results = await self._process(scope, group, queue.context)
            except Exception as exc:  # LLM or store failure: the input is parked, not lost
                await self._park(scope, group, exc)
                continue
            for job, result in zip(group, results, strict=True):
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
            await self._io(self._stores.records.delete_pending, job.pending_id)

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
                    await self._io(
                        self._stores.records.update_pending,
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
            **{k: scope.get(k) for k in SCOPE_FIELDS},
            "messages": [m.model_dump(mode="json", exclude_none=True) for m in job.messages],
            "metadata": job.metadata,
            "error": error,
            "attempts": job.attempts,
            "created_at": _expiry.utc_now(),
        }
        await self._io(self._stores.records.add_pending, row)
        return pending_id

    # --- the pipeline ------------------------------------------------------------------

    async def _ask(self, messages: list[Any], schema: Any) -> Any:
        if self._llm is None:  # only pending() may run without a chat model
            raise ConfigError("intelligent mode needs an LLM: pass llm= (a ChatModel)")
        self.llm_calls += 1
        return await call_json(
            self._llm,
            messages,
            schema=schema,
            max_retries=self._cfg.llm_max_retries,
            max_wait_s=self._cfg.llm_retry_max_wait_s,
            max_reasks=self._cfg.llm_max_reasks,
            limit=self._limit,
            hedge=self._hedge,
        )

    async def _process(
        self, scope: dict[str, str], group: list[_Job], context: deque[Message]
    ) -> list[AddResult]:
        """One extraction (and at most one decision) for ``group``; a result per job."""
        messages = [m for job in group for m in job.messages]
        owner = [n for n, job in enumerate(group) for _ in job.messages]  # message -> job
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
        placed = _place(extraction.facts, messages, now)
        if not placed:
            return [AddResult() for _ in group]
        facts = [fact for fact, _, _ in placed]
        # 2. retrieve: one embedding batch; nearest memories of this scope for each fact,
        # also ended ones whose interval reaches past the earliest new fact (valid time)
        vectors = await self._runner.documents([f.text for f in facts])
        earliest = min(start for _, _, start in placed)
        neighbours = await self._neighbours(vectors, scope, earliest)
        stored = [
            StoredFact(m.id, m.text, m.observed_at or m.created_at, m.invalid_at)
            for m in neighbours
        ]
        new = [NewFact(i, f.text, start, i) for i, (f, _, start) in enumerate(placed)]
        # a fact restating a memory that holds at its time needs no decision; unless every
        # fact is such a restatement, all go to the decision (they may relate to each other)
        relations = _same_text(new, stored)
        stored_by = {m.id: m for m in stored}
        known = {
            r.fact
            for r in relations
            if r.memory_id and _holds(stored_by[r.memory_id], new[r.fact].start)
        }
        # 3. decide (when something is stored nearby, or facts may relate to each other)
        if len(known) < len(new) and (neighbours or len(new) > 1):
            prompt = build_decision_messages(
                [
                    f.model_copy(update={"observed_at": n.start, "valid_from": None})
                    for f, n in zip(facts, new, strict=True)
                ],
                neighbours,
                now=now,
            )
            answer = await self._ask(prompt.messages, DecisionAnswer)
            relations += map_relations(answer, prompt.id_map, facts)
        plan = reconcile(new, stored, relations)
        # 4. apply: one write batch; each event goes to the caller whose message caused it
        job_of = [owner[message] for _, message, _ in placed]
        by_id = {m.id: m for m in neighbours}
        vector_of = {f.text: vectors[i] for i, f in enumerate(facts)}
        request = WriteRequest()
        route: dict[tuple[str, str], int] = {}
        expiry = default_expiry(self._cfg.default_ttl)
        for added in plan.added:
            memory_id = uuid.uuid4().hex
            request.upserts.append(
                Upsert(
                    text=added.text,
                    scope=scope,
                    metadata=dict(group[job_of[added.fact]].metadata),
                    vector=vector_of.get(added.text),
                    id=memory_id,
                    observed_at=_naive(added.start),
                    reason=added.reason,
                    role="user",
                    invalid_at=_naive(added.end),
                    invalid_reason=added.end_reason,
                    expires_at=expiry,
                )
            )
            route[memory_id, "ADD"] = job_of[added.fact]
            route[memory_id, "INVALIDATE"] = job_of[_first(added.ended_by, added.fact)]
        for updated in plan.updated:
            old = by_id[updated.memory_id]
            request.upserts.append(
                Upsert(
                    text=updated.text,
                    scope=_scope_of(old),
                    metadata=dict(old.metadata),
                    vector=vector_of.get(updated.text),
                    id=old.id,
                    must_exist=True,
                    observed_at=_naive(updated.start),
                    reason=updated.reason,
                    role="user",
                    invalid_at=_naive(updated.end),
                    invalid_reason=updated.end_reason,
                    expires_at=_naive(old.expires_at),  # an update keeps the expiry
                )
            )
            route[old.id, "UPDATE"] = job_of[updated.fact]
            route[old.id, "INVALIDATE"] = job_of[_first(updated.ended_by, updated.fact)]
        for ended in plan.ended:
            request.invalidations.append((ended.memory_id, ended.reason, _naive(ended.end)))
            route[ended.memory_id, "INVALIDATE"] = job_of[ended.fact]
        results: list[list[MemoryEvent]] = [[] for _ in group]
        if request.upserts or request.invalidations:
            for event in await self._writer.submit(request):
                results[route.get((event.id, event.event), 0)].append(event)
        for same in plan.unchanged:
            results[job_of[same.fact]].append(
                MemoryEvent(
                    id=same.memory_id or "",
                    text=facts[same.fact].text,
                    event="NONE",
                    reason=same.reason,
                )
            )
        return [AddResult(results=events) for events in results]

    async def _neighbours(
        self, vectors: np.ndarray, scope: dict[str, str], since: datetime
    ) -> list[MemoryItem]:
        per_fact = await self._searcher.vector_many(
            vectors, scope, self._cfg.neighbours_per_fact, live_after=since
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



def _first(*values: int | None) -> int:
    return next(v for v in values if v is not None)


def _place(
    facts: Sequence[ExtractedFact], messages: Sequence[Message], now: datetime
) -> list[tuple[ExtractedFact, int, datetime]]:
    """Each fact with the index of its message and its valid-from (naive UTC).

    The message is the one the model names, else the last one observed at the fact's
    ``observed_at``, else the last one. Valid-from is the fact's ``valid_from`` when the
    model gives one no later than the message, else the message's time. A fact repeated
    within one message is kept once.
    """
    fallback = now.astimezone(timezone.utc).replace(tzinfo=None)
    times = [_naive(m.observed_at) or fallback for m in messages]
    placed: list[tuple[ExtractedFact, int, datetime]] = []
    seen: set[tuple[str, int]] = set()
    for fact in facts:
        index = fact.message
        if index is None or not 0 <= index < len(messages):
            when = _naive(fact.observed_at)
            matches = [i for i, t in enumerate(times) if when is not None and t == when]
            index = matches[-1] if matches else len(messages) - 1
        if (_norm(fact.text), index) in seen:
            continue
        seen.add((_norm(fact.text), index))
        start = times[index]
        valid_from = _naive(fact.valid_from)
        if valid_from is not None and valid_from <= start:
            start = valid_from
        placed.append((fact, index, start))
    return placed


def _holds(memory: StoredFact, when: datetime) -> bool:
    start, end = _naive(memory.start), _naive(memory.end)
    assert start is not None
    return start <= when and (end is None or when < end)


def _same_text(facts: Sequence[NewFact], stored: Sequence[StoredFact]) -> list[Relation]:
    """Restatements, which code sees without a model: identical normalised texts."""
    relations = [
        Relation(f.index, "restates", memory_id=m.id, reason="same text")
        for f in facts
        for m in stored
        if _norm(f.text) == _norm(m.text)
    ]
    relations += [
        Relation(f.index, "restates", other_fact=g.index, reason="same text")
        for f in facts
        for g in facts
        if g.index < f.index and _norm(f.text) == _norm(g.text)
    ]
    return relations


def _scope_of(item: MemoryItem) -> dict[str, str]:
    return {k: v for k in SCOPE_FIELDS if (v := getattr(item, k))}

"""Intelligent mode: retrieve neighbours, extract and decide in one LLM call, apply.

Per group of messages (one scope's messages coalesced by :mod:`._queues`):

1. **retrieve** (no LLM): the messages are embedded and the scope's stored memories
   nearest to them fetched, also ended ones whose interval reaches past the earliest
   message (valid time);
2. **extract and decide**, one LLM call: the model extracts the facts and, in the same
   answer, relates each to the memories shown and to the other new facts, with the
   observation times of both in the prompt and the schema;
3. **check**: the facts are embedded (they are stored with these vectors) and their own
   nearest memories looked up in the same scope; when one of those was not shown in
   step 2, the decision is asked again, facts against all of them (a second call; rare
   when messages and facts share their words);
4. **apply**: :func:`~agentmem_plugins.infer.timeline.reconcile` orders everything by
   valid time (DESIGN invariant 8); one write batch, so nothing is ever half-applied, and
   each caller gets the events its own messages caused.

Different scopes run concurrently under one per-store bound on LLM calls in flight. When
the LLM fails after its retries, the input is parked as pending work (invariant 4) and
:meth:`InferPipeline.retry_pending` replays it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .. import _expiry
from .._config import MemoryConfig
from .._embedding_runner import EmbeddingRunner
from .._errors import ConfigError
from .._expiry import default_expiry
from .._io import IO
from .._scope_cache import ScopeVectors
from .._search import Searcher
from .._store import Stores
from .._time import naive_utc as _naive
from .._types import AddResult, MemoryEvent, MemoryItem, Message, PendingWork
from .._validation import SCOPE_FIELDS
from .._writer import Upsert, Writer, WriteRequest
from ..llms import ChatModel, ConcurrencyLimit, LatencyHedge, call_json
from ._facts import holds, place, renumber, same_text
from ._queues import Job, ScopeQueues
from .prompts import build_decision_messages, build_extract_decide_messages, map_relations
from .schema import DecisionAnswer, ExtractDecideAnswer, ExtractedFact
from .timeline import NewFact, Plan, Relation, StoredFact, reconcile

__all__ = ["InferPipeline"]

log = logging.getLogger("agentmem_plugins")
# step 1 shows each message's nearest 2 x neighbours_per_fact memories: a message often
# states more than one fact, and step 3 asks again when a fact's nearest were not shown
SHOWN_PER_MESSAGE = 2


class InferPipeline:
    """Owned by one :class:`~agentmem_plugins.AsyncMemory`; built on first use.

    Its collaborators are the memory's own, passed in: ``stores`` (read pending work and
    records), ``writer`` (apply decisions as one batch), ``searcher`` (neighbours),
    ``runner`` (embed messages and facts) and ``io`` (run blocking store calls off the
    loop). ``llm`` may be ``None`` only to list pending work. ``llm_calls`` counts calls
    made, ``decision_calls`` those of them that asked a decision again (step 3).
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
        self._writer = writer
        self._searcher = searcher
        self._runner = runner
        self._limit = ConcurrencyLimit(self._cfg.llm_max_concurrency, self._cfg.llm_hedge_room)
        percentile = self._cfg.llm_hedge_percentile
        self._hedge = LatencyHedge(percentile) if percentile is not None else None
        self._queues = ScopeQueues(
            process=self._process,
            stores=stores,
            io=io,
            context_messages=self._cfg.context_messages,
            handover_quiet_s=self._cfg.infer_handover_quiet_ms / 1000,
        )
        self.llm_calls = 0
        self.decision_calls = 0

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
        return await self._queues.add(messages, scope, metadata, wait=wait)

    async def pending(self) -> list[PendingWork]:
        return await self._queues.pending()

    async def retry_pending(self) -> list[AddResult]:
        """Replay every pending item no live session works on (``ScopeQueues``)."""
        return await self._queues.retry_pending()

    async def drain(self) -> None:
        await self._queues.drain()

    async def close(self) -> None:
        await self.drain()
        await self._queues.close()
        closer = getattr(self._llm, "aclose", None)
        if closer is not None and self._cfg.llm is None:  # we built it, we close it
            await closer()

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
        self, scope: dict[str, str], group: list[Job], context: deque[Message]
    ) -> list[AddResult]:
        """Steps 1-4 of the module doc for ``group``; a result per job."""
        messages = [m for job in group for m in job.messages]
        owner = [n for n, job in enumerate(group) for _ in job.messages]  # message -> job
        now = _newest(messages)
        since = min(_naive(m.observed_at) or _naive(now) for m in messages)
        assert since is not None
        # 1. retrieve: the neighbours of the messages themselves; the scope's vectors are
        # read once and serve step 3 too (the scope's work is serialised)
        said = await self._runner.documents([m.content for m in messages])
        found = await self._searcher.scope_vectors(scope, live_after=since)
        shown = await self._nearest(found, said, scope, since, SHOWN_PER_MESSAGE)
        # 2. extract and decide in one call
        prompt = build_extract_decide_messages(
            messages,
            shown,
            context=list(context),
            now=now,
            instructions=self._cfg.extraction_instructions,
        )
        answer = await self._ask(prompt.messages, ExtractDecideAnswer)
        context.extend(messages)
        placed, at = place(answer.facts, messages, now)
        if not placed:
            return [AddResult() for _ in group]
        facts = [fact for fact, _, _ in placed]
        new = [NewFact(i, f.text, start, i) for i, (f, _, start) in enumerate(placed)]
        # 3. check: every fact's own neighbours were shown, else decide again against them
        vectors = await self._runner.documents([f.text for f in facts])
        earliest = min(n.start for n in new)
        if earliest < since:  # a fact holds since before its message: reach further back
            since = earliest
            found = await self._searcher.scope_vectors(scope, live_after=since)
        known = {m.id: m for m in shown}
        own = await self._nearest(found, vectors, scope, since, 1, known)
        unseen = [m for m in own if m.id not in known]
        neighbours = [*shown, *unseen]
        stored = [
            StoredFact(m.id, m.text, m.observed_at or m.created_at, m.invalid_at)
            for m in neighbours
        ]
        relations = same_text(new, stored)
        if not unseen:
            decisions = renumber(answer.decisions, at)
            relations += map_relations(decisions, prompt.id_map, facts)
        else:
            relations += await self._decide(facts, new, stored, neighbours, relations, now)
        plan = reconcile(new, stored, relations)
        # 4. apply
        job_of = [owner[message] for _, message, _ in placed]
        return await self._apply(scope, group, plan, facts, vectors, neighbours, job_of)

    async def _decide(
        self,
        facts: list[ExtractedFact],
        new: list[NewFact],
        stored: list[StoredFact],
        neighbours: list[MemoryItem],
        relations: list[Relation],
        now: datetime,
    ) -> list[Relation]:
        """The decision alone, for facts that have neighbours the one call did not show.

        A fact restating a memory that holds at its time needs no decision; unless every
        fact is such a restatement, all go to the decision (they may relate to each other).
        """
        stored_by = {m.id: m for m in stored}
        known = {
            r.fact
            for r in relations
            if r.memory_id and holds(stored_by[r.memory_id], new[r.fact].start)
        }
        if len(known) == len(new):
            return []
        prompt = build_decision_messages(
            [
                f.model_copy(update={"observed_at": n.start, "valid_from": None})
                for f, n in zip(facts, new, strict=True)
            ],
            neighbours,
            now=now,
        )
        self.decision_calls += 1
        answer = await self._ask(prompt.messages, DecisionAnswer)
        return map_relations(answer, prompt.id_map, facts)

    async def _apply(
        self,
        scope: dict[str, str],
        group: list[Job],
        plan: Plan,
        facts: list[ExtractedFact],
        vectors: np.ndarray,
        neighbours: list[MemoryItem],
        job_of: list[int],
    ) -> list[AddResult]:
        """One write batch for ``plan``; each event goes to the caller whose message
        caused it (``job_of``: fact -> job)."""
        by_id = {m.id: m for m in neighbours}
        vector_of = {f.text: vectors[i] for i, f in enumerate(facts)}
        request = WriteRequest()
        # the writer returns each upsert's events first, in order (its ADD or UPDATE, then
        # an INVALIDATE when it is stored already ended), then those of the invalidations
        upsert_jobs: list[int] = []
        ended_by: dict[str, int] = {}
        expiry = default_expiry(self._cfg.default_ttl)
        for added in plan.added:
            request.upserts.append(
                Upsert(
                    text=added.text,
                    scope=scope,
                    metadata=dict(group[job_of[added.fact]].metadata),
                    vector=vector_of.get(added.text),
                    observed_at=_naive(added.start),  # id: a new one from the writer
                    reason=added.reason,
                    role="user",
                    invalid_at=_naive(added.end),
                    invalid_reason=added.end_reason,
                    expires_at=expiry,
                )
            )
            upsert_jobs.append(job_of[added.fact])
            if added.end is not None:
                upsert_jobs.append(job_of[_first(added.ended_by, added.fact)])
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
            upsert_jobs.append(job_of[updated.fact])
            if updated.end is not None:
                upsert_jobs.append(job_of[_first(updated.ended_by, updated.fact)])
        for ended in plan.ended:
            request.invalidations.append((ended.memory_id, ended.reason, _naive(ended.end)))
            ended_by[ended.memory_id] = job_of[ended.fact]
        results: list[list[MemoryEvent]] = [[] for _ in group]
        if request.upserts or request.invalidations:
            events = await self._writer.submit(request)
            for job, event in zip(upsert_jobs, events, strict=False):
                results[job].append(event)
            for event in events[len(upsert_jobs) :]:  # invalidations (skipped ones: none)
                results[ended_by.get(event.id, 0)].append(event)
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

    async def _nearest(
        self,
        found: ScopeVectors | None,
        vectors: np.ndarray,
        scope: dict[str, str],
        since: datetime,
        widen: int,
        known: dict[str, MemoryItem] | None = None,
    ) -> list[MemoryItem]:
        """The nearest memories of every row of ``vectors`` (``widen`` times
        ``neighbours_per_fact`` each), each once, first seen first."""
        k = self._cfg.neighbours_per_fact * widen
        per_row = await self._searcher.nearest(
            found, vectors, scope, k, live_after=since, known=known
        )
        unique: dict[str, MemoryItem] = {}
        for hits in per_row:
            for hit in hits:
                unique.setdefault(hit.id, hit)
        return list(unique.values())


def _newest(messages: Sequence[Message]) -> datetime:
    times = [m.observed_at for m in messages if m.observed_at is not None]
    newest = max(times) if times else datetime.now(timezone.utc).replace(tzinfo=None)
    return newest.replace(tzinfo=timezone.utc)


def _first(*values: int | None) -> int:
    return next(v for v in values if v is not None)


def _scope_of(item: MemoryItem) -> dict[str, str]:
    return {k: v for k in SCOPE_FIELDS if (v := getattr(item, k))}

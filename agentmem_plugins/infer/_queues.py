"""Per-scope queues of intelligent mode: serialise, coalesce, park and replay.

Work of one scope runs one group at a time (two updates of the same user's memories never
race); messages queued for a scope while its previous group is in flight are coalesced
into the next group (same metadata, at most ``MAX_MESSAGES_PER_CALL`` messages), so a
chatty user costs a handful of LLM calls, not one per message. Different scopes run
concurrently. A group whose processing fails (the LLM after its retries, or a store) is
recorded as pending work with its error (DESIGN invariant 4);
:meth:`ScopeQueues.retry_pending` replays it. Input handed over with ``wait=False`` is
durable as a pending record before ``add`` returns, and that record is cleared once its
group is applied. Each record names the session working on it; a replay first claims the
records no other live session holds (``Journal.claim_pending``). Pending records written
or cleared while an earlier write is in flight share the next transaction (a group
commit: one per loop turn, not one per message).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .. import _expiry
from .._io import IO
from .._store import Stores
from .._types import AddResult, Message, PendingWork
from .._validation import SCOPE_FIELDS
from ..storage import utc
from ._group_commit import GroupCommit
from ._scope_leases import ScopeKey, ScopeLeases

__all__ = ["MAX_MESSAGES_PER_CALL", "Process", "ScopeQueues"]

log = logging.getLogger("agentmem_plugins")
MAX_MESSAGES_PER_CALL = 40
#: a group starting with a hand-over waits for its queue to be quiet this long at most
QUIET_MAX_S = 0.5


@dataclass
class Job:
    messages: list[Message]
    metadata: dict[str, Any]
    future: asyncio.Future[AddResult]
    pending_id: str | None = None  # set when the input is already recorded as pending
    attempts: int = 0
    recorded: asyncio.Task[str] | None = None  # the write of that pending record


@dataclass
class _ScopeQueue:
    jobs: list[Job] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    context: deque[Message] = field(default_factory=deque)


# (scope, the group's jobs, the scope's recent messages) -> one result per job
Process = Callable[[dict[str, str], list[Job], deque[Message]], Awaitable[list[AddResult]]]


class ScopeQueues:
    """The queues of one :class:`~agentmem_plugins.infer.pipeline.InferPipeline`.

    ``process`` runs one group (an extraction and what follows); ``stores`` and ``io``
    hold and write the pending records; ``context_messages`` recent messages of each
    scope are kept for the next group's prompt; a group that starts with a hand-over
    waits until its scope's queue has been quiet for ``handover_quiet_s``
    (:meth:`_quiet`).
    """

    def __init__(
        self,
        *,
        process: Process,
        stores: Stores,
        io: IO,
        context_messages: int,
        handover_quiet_s: float = 0.0,
    ) -> None:
        self._process = process
        self._handover_quiet_s = handover_quiet_s
        self._stores = stores
        self._io = io
        self._context_messages = context_messages
        self._queues: dict[ScopeKey, _ScopeQueue] = {}
        self._detached: set[asyncio.Future[AddResult]] = set()
        #: pending records whose job left its queue and is not yet cleared or parked
        self._taken: set[str] = set()
        self._leases = ScopeLeases(io, stores)
        self._add_pending = GroupCommit[dict[str, Any], None](io, stores.records.add_pending)
        self._delete_pending = GroupCommit[str, None](io, stores.records.delete_pending)

    async def add(
        self,
        messages: list[Message],
        scope: dict[str, str],
        metadata: dict[str, Any],
        *,
        wait: bool,
    ) -> AddResult:
        job = Job(messages, metadata, asyncio.get_running_loop().create_future())
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
        return [_work_of(r) for r in await self._io(self._stores.records.list_pending)]

    async def retry_pending(self) -> list[AddResult]:
        """Replay every pending item that no live session works on (this one included:
        items queued or in flight here are left alone)."""
        claimed = await self._io(self._stores.claim_pending)
        queued = {j.pending_id for q in self._queues.values() for j in q.jobs} | self._taken
        loop = asyncio.get_running_loop()
        futures = []
        for work in map(_work_of, claimed):
            if work.id in queued:
                continue
            scope = {k: v for k in SCOPE_FIELDS if (v := getattr(work, k))}
            job = Job(
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
        """Give up the scope leases (after :meth:`drain`)."""
        await self._leases.close()

    # --- per-scope serialisation and coalescing ----------------------------------------

    def _enqueue(self, scope: dict[str, str], job: Job) -> None:
        key: ScopeKey = tuple(sorted(scope.items()))
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _ScopeQueue(
                context=deque(maxlen=max(self._context_messages, 0) or None)
            )
        queue.jobs.append(job)
        if queue.worker is None or queue.worker.done():
            queue.worker = asyncio.create_task(self._work(key, queue, scope))

    async def _work(self, key: ScopeKey, queue: _ScopeQueue, scope: dict[str, str]) -> None:
        while queue.jobs:
            await self._quiet(queue)
            group = self._take_group(queue)
            try:
                await self._leases.hold(key)  # no other process works on the scope meanwhile
                results = await self._process(scope, group, queue.context)
            except Exception as exc:  # LLM or store failure: the input is parked, not lost
                await self._park(scope, group, exc)
                continue
            cleared = await asyncio.gather(
                *(self._clear_pending(job) for job in group), return_exceptions=True
            )
            for job, result, outcome in zip(group, results, cleared, strict=True):
                if isinstance(outcome, Exception):  # applied, but its record stays: replay dedups
                    log.error("could not clear pending record %s: %s", job.pending_id, outcome)
                if not job.future.done():
                    job.future.set_result(result)
        self._leases.idle(key)
        if not queue.jobs and self._queues.get(key) is queue and not queue.context:
            del self._queues[key]

    async def _quiet(self, queue: _ScopeQueue) -> None:
        """Before a group that starts with a hand-over (``wait=False``): wait until no
        job has joined the queue for ``handover_quiet_s``, the group is full, or
        ``QUIET_MAX_S`` have passed. An agent handing over a burst of messages, each
        after the previous one's pending record is durable (8-15 ms apart), then has
        them extracted in one call; taken at once, the first message went alone and the
        rest waited for it (issue 13, handed over: two calls per user; with the wait one,
        and 839 -> 1,117 turns/s, ``benchmarks.infer_faults``, median of 9). Nobody awaits a
        hand-over's result, so the wait costs no caller anything; a caller waiting for
        its result (``wait=True``) or a replay never waits here."""
        if self._handover_quiet_s <= 0 or queue.jobs[0].recorded is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + QUIET_MAX_S
        while loop.time() < deadline:
            if sum(len(job.messages) for job in queue.jobs) >= MAX_MESSAGES_PER_CALL:
                return
            seen = len(queue.jobs)
            await asyncio.sleep(min(self._handover_quiet_s, max(0.0, deadline - loop.time())))
            if len(queue.jobs) == seen:
                return

    async def _clear_pending(self, job: Job) -> None:
        try:
            if job.recorded is not None:
                await job.recorded
            if job.pending_id is not None:
                await self._delete_pending(job.pending_id)
        finally:
            self._taken.discard(job.pending_id or "")

    def _take_group(self, queue: _ScopeQueue) -> list[Job]:
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
        self._taken.update(job.pending_id for job in group if job.pending_id is not None)
        return group

    async def _park(self, scope: dict[str, str], group: list[Job], exc: Exception) -> None:
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
            finally:  # parked (or not recorded at all): replayable from now on
                self._taken.discard(job.pending_id or "")
            if not job.future.done():
                job.future.set_result(AddResult(pending_id=job.pending_id))

    async def _record_pending(
        self, job: Job, scope: dict[str, str], *, error: str | None, pending_id: str | None = None
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
            # a hand-over is this session's to process; a parked item is anyone's to replay
            "session_id": self._stores.session if error is None else None,
        }
        await self._add_pending(row)
        return pending_id


def _work_of(row: dict[str, Any]) -> PendingWork:
    return PendingWork(
        id=row["id"],
        user_id=row["user_id"],
        agent_id=row["agent_id"],
        run_id=row["run_id"],
        messages=[Message.model_validate(m) for m in row["messages"]],
        metadata=row["metadata"] or {},
        error=row["error"],
        attempts=row["attempts"],
        created_at=utc(row["created_at"]),
    )

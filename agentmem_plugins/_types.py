"""Typed values that cross the public API: memories, search hits, history, results."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AddResult",
    "HistoryEvent",
    "MemoryEvent",
    "MemoryInput",
    "MemoryItem",
    "Message",
    "PendingWork",
    "SearchMode",
]

SearchMode = Literal["vector", "fulltext", "hybrid"]
EventKind = Literal["ADD", "UPDATE", "DELETE", "INVALIDATE", "EXPIRE", "NONE"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemoryItem(_Frozen):
    """One stored memory.

    ``score`` is set on search results only: cosine similarity for ``mode="vector"``,
    BM25 for ``"fulltext"``, reciprocal-rank-fusion score for ``"hybrid"``.
    ``invalid_at``/``invalid_reason`` are set once a memory stopped holding (it was
    contradicted or superseded); such memories are kept but skipped by default searches.
    ``expires_at`` is when the memory expires (``None``: never); from then on every read
    treats it as gone.
    """

    id: str
    text: str
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    observed_at: datetime | None = None
    invalid_at: datetime | None = None
    invalid_reason: str | None = None
    expires_at: datetime | None = None
    score: float | None = None


class MemoryInput(BaseModel):
    """One item for :meth:`AsyncMemory.add_many` (a dict of the same keys works too).

    ``vector`` is a precomputed embedding stored as given; ``id`` makes the write an
    idempotent upsert (the same id again replaces text, metadata and vector).
    ``ttl`` (seconds or a ``timedelta``) or ``expires_at`` (a datetime) make it expire.
    """

    model_config = ConfigDict(extra="forbid")

    text: str
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, Any] | None = None
    vector: Any = None  # a sequence of numbers or a numpy array; checked by the core
    id: str | None = None
    ttl: Any = None  # seconds or a timedelta; checked by the core
    expires_at: Any = None  # a datetime; checked by the core


class Message(BaseModel):
    """A chat message handed to :meth:`AsyncMemory.add`.

    ``observed_at`` is when it was said; relative dates in it ("yesterday") resolve
    against it in intelligent mode.
    """

    model_config = ConfigDict(extra="ignore")

    role: str = "user"
    content: str
    name: str | None = None
    observed_at: datetime | None = None


class MemoryEvent(_Frozen):
    """What one ``add`` did to one memory."""

    id: str
    text: str
    event: EventKind
    previous_text: str | None = None
    reason: str | None = None


class AddResult(_Frozen):
    """The outcome of :meth:`AsyncMemory.add`.

    ``pending_id`` is set when the messages were handed over without waiting
    (``wait=False``) or when the LLM failed after all retries: the work is then recorded
    as pending and can be replayed with :meth:`AsyncMemory.retry_pending`.
    """

    results: list[MemoryEvent] = Field(default_factory=list)
    pending_id: str | None = None


class HistoryEvent(_Frozen):
    """One audit-trail entry of a memory."""

    id: int
    memory_id: str
    event: EventKind
    old_text: str | None = None
    new_text: str | None = None
    actor: str | None = None
    role: str | None = None
    reason: str | None = None
    created_at: datetime


class PendingWork(_Frozen):
    """Input whose LLM processing failed or has not run yet (DESIGN invariant 4)."""

    id: str
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    messages: list[Message]
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    created_at: datetime

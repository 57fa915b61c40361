"""Write requests, and how one is planned against what is stored.

:class:`WriteRequest` (upserts, deletes, invalidations, expiries, the expiry sweep) is
what every write path submits to the :class:`~._writer.Writer`; :func:`plan` checks one
request against the rows it touches and adds its rows, vectors and history events to the
batch's :class:`~.storage.Changes`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ._errors import InvalidInputError, NotFoundError
from ._expiry import has_expired
from ._types import EventKind, MemoryEvent
from ._validation import SCOPE_FIELDS
from .storage import Changes

__all__ = ["SMALL_REQUEST_ROWS", "Upsert", "WriteRequest", "plan"]

log = logging.getLogger("agentmem_plugins")

#: requests of at most this many new memories (and no ids) persist in the small lane
SMALL_REQUEST_ROWS = 64


@dataclass(slots=True)
class Upsert:
    text: str
    scope: dict[str, str]
    metadata: dict[str, Any]
    vector: np.ndarray | None = None
    id: str | None = None  # None: a new id is generated
    must_exist: bool = False  # update(): NotFoundError when the id is unknown
    observed_at: datetime | None = None
    role: str | None = None
    actor: str | None = None
    reason: str | None = None
    # set: the row is stored already ended (a late older fact, valid time); history and
    # events get an INVALIDATE after the ADD/UPDATE
    invalid_at: datetime | None = None
    invalid_reason: str | None = None
    expires_at: datetime | None = None  # naive UTC; None: never


@dataclass(slots=True)
class WriteRequest:
    upserts: list[Upsert] = field(default_factory=list)
    # empty tuples by default, not lists: fast mode builds one request per add, and
    # every list is one more object for the garbage collector to count and walk
    deletes: Sequence[str] = ()
    delete_missing_ok: bool = False
    # (memory id, reason, when it stopped holding; None: now)
    invalidations: list[tuple[str, str | None, datetime | None]] = field(default_factory=list)
    # (memory id, new expiry or None): the memory must exist and not have expired
    expiries: Sequence[tuple[str, datetime | None]] = ()
    # the expiry sweep: delete these if they have expired by then (EXPIRE events)
    expirations: Sequence[str] = ()
    future: asyncio.Future[list[MemoryEvent]] | None = None

    def explicit_ids(self) -> set[str]:
        ids = {u.id for u in self.upserts if u.id is not None}
        if self.deletes or self.invalidations or self.expiries or self.expirations:
            ids |= {i for i, _ in self.expiries} | set(self.expirations) | set(self.deletes)
            ids |= {i for i, _, _ in self.invalidations}
        return ids

    def is_small(self) -> bool:
        """New memories only, few of them: nothing another request can conflict with."""
        return (
            0 < len(self.upserts) <= SMALL_REQUEST_ROWS
            and not (self.deletes or self.invalidations or self.expiries or self.expirations)
            and all(u.id is None for u in self.upserts)
        )


def plan(
    request: WriteRequest,
    existing: dict[str, dict[str, Any]],
    changes: Changes,
    vectors: list[np.ndarray],
    now: datetime,
    rev: str,
    fresh: Iterator[str],
    check_dim: Callable[[int], None],
) -> list[MemoryEvent]:
    """Check one request against the stored rows (``existing``, expired ones too), then
    add it to ``changes``: rows (new ids drawn from ``fresh``), vectors, history, and the
    events the caller gets back. Raises (changing nothing) when the request is refused."""
    raw = existing  # expired rows too: a delete or the sweep may still remove them

    def live(memory_id: str | None) -> dict[str, Any] | None:
        row = raw.get(memory_id) if memory_id else None
        return None if row is None or _expired(row, now) else row

    for upsert in request.upserts:
        old = live(upsert.id)
        if upsert.must_exist and old is None:
            raise NotFoundError(f"no memory with id {upsert.id!r}")
        if old is not None and _scope_of(old) != upsert.scope:
            raise InvalidInputError(
                f"id {upsert.id!r} already belongs to another scope; ids are unique "
                "across the store, pick another id"
            )
        assert upsert.vector is not None
        check_dim(len(upsert.vector))
    for memory_id in request.deletes:
        if memory_id not in raw and not request.delete_missing_ok:
            raise NotFoundError(f"no memory with id {memory_id!r}")
    for memory_id, _ in request.expiries:
        if live(memory_id) is None:
            raise NotFoundError(f"no memory with id {memory_id!r}")

    events: list[MemoryEvent] = []
    for upsert in request.upserts:
        old = live(upsert.id)
        memory_id = upsert.id or next(fresh)
        vector = np.asarray(upsert.vector, dtype=np.float32)
        changes.rows.append(
            {
                "id": memory_id,
                "text": upsert.text,
                **{k: upsert.scope.get(k) for k in SCOPE_FIELDS},
                "metadata": upsert.metadata,
                "vector": vector.tobytes(),
                "rev": rev,
                "created_at": old["created_at"] if old else now,
                "updated_at": now,
                "observed_at": upsert.observed_at,
                "invalid_at": upsert.invalid_at,
                "invalid_reason": upsert.invalid_reason,
                "expires_at": upsert.expires_at,
            }
        )
        vectors.append(vector)
        kind: EventKind = "UPDATE" if old else "ADD"
        if old or upsert.id in raw:  # an expired row of that id is replaced too
            changes.replace_ids.append(memory_id)
        changes.history.append(
            _history(memory_id, kind, old["text"] if old else None, upsert.text, now, upsert)
        )
        events.append(
            MemoryEvent(  # validated: pydantic's model_construct is slower (5.3 vs 3.5 us)
                id=memory_id,
                text=upsert.text,
                event=kind,
                previous_text=old["text"] if old else None,
                reason=upsert.reason,
            )
        )
        if upsert.invalid_at is not None:
            why = upsert.invalid_reason
            changes.history.append(
                _history(memory_id, "INVALIDATE", upsert.text, upsert.text, now, reason=why)
            )
            events.append(
                MemoryEvent(id=memory_id, text=upsert.text, event="INVALIDATE", reason=why)
            )
    for memory_id in request.deletes:
        old = raw.get(memory_id)
        if old is None:
            continue
        changes.delete_ids.append(memory_id)
        changes.history.append(_history(memory_id, "DELETE", old["text"], None, now))
        events.append(MemoryEvent(id=memory_id, text=old["text"], event="DELETE"))
    for memory_id, reason, when in request.invalidations:
        old = live(memory_id)
        ended = old["invalid_at"] if old is not None else None
        if old is None or (ended is not None and (when is None or ended <= when)):
            # an already ended memory may only end earlier (a late fact, valid time)
            log.info("skipping invalidation of %r: unknown or already invalid", memory_id)
            continue
        changes.invalidations.append((memory_id, when or now, reason))
        changes.history.append(
            _history(memory_id, "INVALIDATE", old["text"], old["text"], now, reason=reason)
        )
        events.append(
            MemoryEvent(id=memory_id, text=old["text"], event="INVALIDATE", reason=reason)
        )
    for memory_id, when in request.expiries:
        changes.expiries.append((memory_id, when))
    for memory_id in request.expirations:
        old = raw.get(memory_id)
        if old is None or not _expired(old, now):
            continue  # gone already, or its expiry was moved since the sweep read it
        changes.delete_ids.append(memory_id)
        changes.history.append(
            _history(memory_id, "EXPIRE", old["text"], None, now, reason="expired")
        )
        events.append(MemoryEvent(id=memory_id, text=old["text"], event="EXPIRE"))
    return events


def _expired(row: dict[str, Any], now: datetime) -> bool:
    return has_expired(row.get("expires_at"), now)


def _scope_of(row: dict[str, Any]) -> dict[str, str]:
    return {k: row[k] for k in SCOPE_FIELDS if row.get(k) is not None}


def _history(
    memory_id: str,
    event: str,
    old: str | None,
    new: str | None,
    at: datetime,
    upsert: Upsert | None = None,
    *,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "memory_id": memory_id,  # the row id is assigned by the database, in order
        "event": event,
        "old_text": old,
        "new_text": new,
        "actor": upsert.actor if upsert else None,
        "role": upsert.role if upsert else None,
        "reason": upsert.reason if upsert else reason,
        "created_at": at,
    }

"""The write half of :class:`~agentmem_plugins.AsyncMemory`: add, add_many, update, delete,
delete_many, delete_all.

A mixin, like :mod:`._reads`, so each half of the API stays a file one can read in one
sitting; it holds no state of its own and relies on the attributes
``AsyncMemory.__init__`` sets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np
from pydantic import ValidationError

from . import _expiry
from ._config import MemoryConfig
from ._errors import InvalidInputError, NotFoundError
from ._expiry import Expiry, resolve_expiry
from ._filters import parse_filters
from ._messages import normalize_messages
from ._store import Stores
from ._types import AddResult, MemoryInput, MemoryItem
from ._validation import (
    SCOPE_FIELDS,
    check_id,
    check_metadata,
    check_scope,
    check_text,
    check_vector,
)
from ._writer import Upsert, Writer, WriteRequest
from .embeddings import Embedder

if TYPE_CHECKING:
    from .infer.pipeline import InferPipeline

__all__ = ["WriteMethods"]

P = ParamSpec("P")
T = TypeVar("T")


class WriteMethods:
    config: MemoryConfig
    embedder: Embedder | None
    _stores: Stores
    _writer: Writer
    _check_open: Callable[[], None]
    _should_infer: Callable[[bool | None], bool]
    _pipeline: Callable[[], InferPipeline]
    if TYPE_CHECKING:  # AsyncMemory's and ReadMethods', typed as the other collaborators see them

        async def _io(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...

        async def get(self, memory_id: str) -> MemoryItem: ...

    async def add(
        self,
        messages: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        infer: bool | None = None,
        wait: bool = True,
        observed_at: datetime | None = None,
        ttl: Expiry | None = None,
        expires_at: datetime | None = None,
    ) -> AddResult:
        """Remember ``messages`` (a str, a ``{"role", "content"}`` dict, or a list).

        ``infer=False`` stores each message's text as given; ``infer=True`` has the LLM
        extract facts and reconcile them with what is stored; ``None`` infers when an LLM
        is configured. ``wait=False`` (intelligent mode) hands the messages over and
        returns at once with a ``pending_id``; :meth:`flush` waits for them.

        ``ttl`` (seconds or a ``timedelta``) or ``expires_at`` (a datetime; naive means
        UTC) make the memories expire: from then on every read treats them as gone, and
        maintenance deletes them (``EXPIRE`` in their history). Without either,
        ``MemoryConfig.default_ttl`` applies.
        """
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=True)
        meta = check_metadata(metadata)
        msgs = normalize_messages(
            messages, max_chars=self.config.max_text_chars, observed_at=observed_at
        )
        expiry = resolve_expiry(ttl, expires_at, default=self.config.default_ttl)
        if self._should_infer(infer):
            if ttl is None and expires_at is None:
                return await self._pipeline().add(msgs, scope, meta, wait=wait)
            if not wait:
                raise InvalidInputError(
                    "ttl=/expires_at= in intelligent mode need wait=True (the expiry is set "
                    "on the memories the LLM's decisions write)"
                )
            result = await self._pipeline().add(msgs, scope, meta, wait=True)
            return await self._expire_written(result, expiry)
        upserts: list[Upsert] = []
        for m in msgs:  # a loop, not a comprehension: no closure cells on the hot path
            upserts.append(
                Upsert(
                    text=m.content,
                    scope=scope,
                    metadata=meta,
                    observed_at=m.observed_at,
                    role=m.role,
                    actor=m.name,
                    expires_at=expiry,
                )
            )
        return AddResult(results=await self._writer.submit(WriteRequest(upserts=upserts)))

    async def add_many(self, items: Iterable[MemoryInput | Mapping[str, Any]]) -> list[str]:
        """Batch mode: store many texts (or precomputed vectors) as given; ids in order.

        Every item is validated before anything is written. An item with an ``id`` is an
        idempotent upsert; a ``vector`` is stored as given instead of embedding the text.
        """
        self._check_open()
        upserts = [self._upsert_from(i, item) for i, item in enumerate(items)]
        seen: set[str] = set()
        for i, u in enumerate(upserts):
            if u.id is not None:
                if u.id in seen:
                    raise InvalidInputError(f"items[{i}].id {u.id!r} appears twice in one call")
                seen.add(u.id)
        size = max(self.config.batch_max_size, 1)
        requests = [
            WriteRequest(upserts=upserts[s : s + size]) for s in range(0, len(upserts), size)
        ]
        results = await asyncio.gather(*(self._writer.submit(r) for r in requests))
        return [e.id for events in results for e in events]

    async def _expire_written(self, result: AddResult, expiry: datetime | None) -> AddResult:
        """Set ``expiry`` on the memories an intelligent-mode add wrote or changed."""
        written = [e.id for e in result.results if e.event in ("ADD", "UPDATE")]
        if written:
            request = WriteRequest(expiries=[(i, expiry) for i in dict.fromkeys(written)])
            await self._writer.submit(request)
        return result

    def _upsert_from(self, index: int, item: MemoryInput | Mapping[str, Any]) -> Upsert:
        where = f"items[{index}]"
        if isinstance(item, Mapping):
            try:
                item = MemoryInput.model_validate(dict(item))
            except ValidationError as exc:
                problem = exc.errors()[0]
                field = ".".join(map(str, problem["loc"]))
                raise InvalidInputError(f"{where}.{field}: {problem['msg']}") from None
        elif not isinstance(item, MemoryInput):
            raise InvalidInputError(
                f"{where} must be a dict or MemoryInput, got {type(item).__name__}"
            )
        text = check_text(item.text, max_chars=self.config.max_text_chars, field=f"{where}.text")
        vector = None
        if item.vector is not None:
            vector = check_vector(item.vector, dim=self._stores.space.dim, field=f"{where}.vector")
        elif self.embedder is None:
            raise InvalidInputError(
                f"{where}.vector is required: this store has no embedder (embedder='none')"
            )
        return Upsert(
            text=text,
            scope=check_scope(item.user_id, item.agent_id, item.run_id, required=True),
            metadata=check_metadata(item.metadata, field=f"{where}.metadata"),
            vector=vector,
            id=check_id(item.id, field=f"{where}.id") if item.id is not None else None,
            expires_at=resolve_expiry(
                item.ttl,
                item.expires_at,
                default=self.config.default_ttl,
                field=f"{where}.",
            ),
        )

    async def update(
        self,
        memory_id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        vector: Sequence[float] | None = None,
        ttl: Expiry | None = None,
        expires_at: datetime | None = None,
    ) -> MemoryItem:
        """Change a memory's text (re-embedded), metadata (replaced) and/or vector.

        ``ttl=``/``expires_at=`` set a new expiry (counted from now); without them the
        memory keeps the one it has. Changing only the expiry is a SQL-only write.
        """
        self._check_open()
        check_id(memory_id)
        content = not (text is None and metadata is None and vector is None)
        if not content and ttl is None and expires_at is None:
            raise InvalidInputError("update needs text=, metadata=, vector=, ttl= or expires_at=")
        now = _expiry.utc_now()
        new_expiry = resolve_expiry(ttl, expires_at, now=now)
        if not content:
            await self._writer.submit(WriteRequest(expiries=[(memory_id, new_expiry)]))
            return await self.get(memory_id)
        rows = await self._io(self._stores.records.full_rows, [memory_id])
        if not rows or _expiry.has_expired(rows[0]["expires_at"], now):
            raise NotFoundError(f"no memory with id {memory_id!r}")
        old = rows[0]
        new_text = (
            old["text"] if text is None else check_text(text, max_chars=self.config.max_text_chars)
        )
        if vector is not None:
            new_vector = check_vector(vector, dim=self._stores.space.dim)
        elif new_text == old["text"]:
            new_vector = np.frombuffer(old["vector"], dtype=np.float32)
        else:
            new_vector = None
            if self.embedder is None:
                raise InvalidInputError("this store has no embedder: pass vector= with new text")
        upsert = Upsert(
            text=new_text,
            scope={k: old[k] for k in SCOPE_FIELDS if old[k] is not None},
            metadata=old["metadata"] if metadata is None else check_metadata(metadata),
            vector=new_vector,
            id=memory_id,
            must_exist=True,
            observed_at=old["observed_at"],
            expires_at=old["expires_at"] if new_expiry is None else new_expiry,
        )
        await self._writer.submit(WriteRequest(upserts=[upsert]))
        return await self.get(memory_id)

    async def delete(self, memory_id: str) -> None:
        """Forget one memory (its history stays); ``NotFoundError`` if unknown."""
        self._check_open()
        await self._writer.submit(WriteRequest(deletes=[check_id(memory_id)]))

    async def delete_many(
        self,
        ids: Iterable[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> int:
        """Forget these memories; unknown ids (and, with a scope, ids of other scopes) are
        skipped. Returns how many were deleted."""
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=False)
        checked = list(dict.fromkeys(check_id(i, field="ids[]") for i in ids))
        if scope:  # ids never change scope, so this check cannot go stale
            found = await self._io(self._stores.records.fetch, checked, scope=scope)
            checked = [i for i in checked if i in found]
        deleted = 0
        for start in range(0, len(checked), 4096):
            request = WriteRequest(deletes=checked[start : start + 4096], delete_missing_ok=True)
            deleted += len(await self._writer.submit(request))
        return deleted

    async def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> int:
        """Forget every memory of a scope (optionally only those matching ``filters``)."""
        self._check_open()
        scope = check_scope(user_id, agent_id, run_id, required=True)
        flt = parse_filters(filters)
        ids = await self._io(self._stores.records.ids, scope, flt)
        return await self.delete_many(ids)

"""The one place LLM calls are retried, re-asked and bounded.

:func:`call_json` sends a conversation, parses the answer as one JSON object and
validates it against a pydantic schema:

* :class:`~agentmem_plugins.LLMTransientError` (timeout, connection, 429, 5xx): retried
  with jittered exponential backoff (tenacity ``wait_random_exponential``, "full
  jitter"), waiting at least the server's ``Retry-After``; every single wait is capped
  at ``max_wait_s`` so the worst case of a call stays bounded.
* a malformed or schema-invalid answer (or :class:`~agentmem_plugins.LLMResponseError`
  from the model): re-asked up to ``max_reasks`` times, with the validation error
  appended to the conversation. Each re-ask has its own transient-retry budget.
* :class:`~agentmem_plugins.LLMRequestError` and anything else: raised at once.

A :class:`ConcurrencyLimit` bounds calls in flight per store (each ``AsyncMemory`` builds
one from ``MemoryConfig.llm_max_concurrency``; two stores in one process have two bounds);
it is held only while a request is in flight, never during a backoff sleep.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from .._errors import ConfigError, LLMResponseError, LLMTransientError
from ._protocol import ChatMessage, ChatModel

__all__ = ["ConcurrencyLimit", "call_json", "parse_json_answer"]

logger = logging.getLogger("agentmem_plugins")

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json|JSON)?\s*\n?(.*?)\n?```$", re.DOTALL)


class ConcurrencyLimit:
    """At most ``max_in_flight`` LLM calls at once (``async with limit: ...``).

    One per store (from ``MemoryConfig.llm_max_concurrency``), shared by every call.
    The semaphore is created lazily so the object can be built outside a running loop.
    """

    def __init__(self, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ConfigError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.peak = 0
        self._sem: asyncio.Semaphore | None = None

    async def __aenter__(self) -> ConcurrencyLimit:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.max_in_flight)
        await self._sem.acquire()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.in_flight -= 1
        assert self._sem is not None
        self._sem.release()


def parse_json_answer(text: str, schema: type[T]) -> T:
    """``text`` as one JSON object validated by ``schema``; :class:`LLMResponseError` if not.

    Strict, apart from one tolerance: a single surrounding Markdown code fence (some
    servers add one even in JSON mode) is removed.
    """
    raw = text.strip()
    fenced = _FENCE.match(raw)
    if fenced:
        raw = fenced.group(1).strip()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LLMResponseError(f"answer is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(data, dict):
        raise LLMResponseError(f"answer is JSON {type(data).__name__}, not an object")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise LLMResponseError(f"answer does not match the schema: {problems}") from exc


class _Wait:
    """Full-jitter exponential backoff, at least ``retry_after``, capped at ``max_wait_s``."""

    def __init__(self, base_wait_s: float, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s
        self._jitter = wait_random_exponential(multiplier=base_wait_s, max=max_wait_s)

    def __call__(self, state: RetryCallState) -> float:
        wait = self._jitter(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > 0:
            wait = max(wait, float(retry_after))
        return min(wait, self.max_wait_s)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.info(
        "LLM call failed (attempt %d): %s; retrying in %.2fs", state.attempt_number, exc, wait
    )


async def call_json(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    *,
    schema: type[T],
    max_retries: int = 5,
    max_wait_s: float = 20.0,
    max_reasks: int = 2,
    base_wait_s: float = 0.5,
    limit: ConcurrencyLimit | None = None,
) -> T:
    """Ask ``model`` and return its answer validated as ``schema`` (retries as the module doc).

    Raises :class:`LLMTransientError` when ``max_retries`` retries of one attempt all
    failed, :class:`LLMResponseError` after ``max_reasks`` re-asks still gave no valid
    answer, :class:`LLMRequestError` at once. ``base_wait_s`` is the first backoff
    window (it doubles each retry, up to ``max_wait_s``).

    Example::

        answer = await call_json(llm, build_extraction_messages(msgs),
                                 schema=ExtractionAnswer, max_retries=3, max_wait_s=5)
    """
    if max_retries < 0 or max_reasks < 0:
        raise ConfigError("max_retries and max_reasks must be >= 0")
    conversation: list[ChatMessage] = list(messages)
    last_error: LLMResponseError | None = None
    for ask in range(max_reasks + 1):
        text: str | None = None
        try:
            text = await _complete(model, conversation, max_retries, max_wait_s, base_wait_s, limit)
            return parse_json_answer(text, schema)
        except LLMResponseError as exc:
            last_error = exc
            logger.info("LLM answer rejected (ask %d of %d): %s", ask + 1, max_reasks + 1, exc)
            if ask == max_reasks:
                break
            conversation = [*messages]
            if text is not None:
                conversation.append({"role": "assistant", "content": text})
            conversation.append(
                {
                    "role": "user",
                    "content": f"Your previous answer was not usable: {exc}. Answer again "
                    "with exactly one JSON object in the format described, and nothing else.",
                }
            )
    assert last_error is not None
    raise LLMResponseError(
        f"no valid answer after {max_reasks + 1} attempt(s): {last_error}"
    ) from last_error


async def _complete(
    model: ChatModel,
    conversation: list[ChatMessage],
    max_retries: int,
    max_wait_s: float,
    base_wait_s: float,
    limit: ConcurrencyLimit | None,
) -> str:
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(LLMTransientError),
        stop=stop_after_attempt(max_retries + 1),
        wait=_Wait(base_wait_s, max_wait_s),
        before_sleep=_log_retry,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            if limit is None:
                return await model.complete(conversation, json_mode=True)
            async with limit:
                return await model.complete(conversation, json_mode=True)
    raise AssertionError("unreachable")  # pragma: no cover

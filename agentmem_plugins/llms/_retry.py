"""LLM calls retried and re-asked; each request goes out through ``_hedging``.

:func:`call_json` sends a conversation, parses the answer as one JSON object and
validates it against a pydantic schema:

* :class:`~agentmem_plugins.LLMTransientError` (timeout, connection, 429, 5xx): retried
  soon, then backing off: the n-th retry waits ``base_wait_s * 2**(n-1)`` times a random
  factor in [1, 2.5] (jitter), so with the default 0.1 s the first retry comes after
  100-250 ms, the second after 200-500 ms, and so on; at least the server's
  ``Retry-After``; every single wait capped at ``max_wait_s`` so the worst case of a call
  stays bounded. ``max_retries`` counts the transient failures of the whole call.
* a malformed or schema-invalid answer (or :class:`~agentmem_plugins.LLMResponseError`
  from the model): re-asked at once, up to ``max_reasks`` times, with the validation
  error appended to the conversation, keeping the concurrency slot (a re-ask never queues
  behind other calls).
* :class:`~agentmem_plugins.LLMRequestError` and anything else: raised at once.

Each request goes out through :func:`~agentmem_plugins.llms._hedging.send`: within the
store's :class:`ConcurrencyLimit` (per store, from ``MemoryConfig.llm_max_concurrency``,
held only while a request is in flight, never during a backoff sleep), and hedged by an
optional :class:`LatencyHedge` when it runs long (see that module).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from .._errors import ConfigError, LLMResponseError, LLMTransientError
from ._hedging import ConcurrencyLimit, LatencyHedge, ResendWait, send
from ._protocol import ChatMessage, ChatModel

__all__ = ["call_json", "parse_json_answer", "retry_wait"]

logger = logging.getLogger("agentmem_plugins")

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json|JSON)?\s*\n?(.*?)\n?```$", re.DOTALL)


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


def retry_wait(
    retry: int, base_wait_s: float, max_wait_s: float, retry_after: float | None
) -> float:
    """Seconds before retry number ``retry`` (1-based): ``base_wait_s * 2**(retry-1)``
    times a random factor in [1, 2.5], at least ``retry_after``, at most ``max_wait_s``."""
    wait: float = base_wait_s * 2.0 ** (retry - 1) * random.uniform(1.0, 2.5)
    if retry_after is not None and retry_after > 0:
        wait = max(wait, float(retry_after))
    return min(wait, max_wait_s)


class _Wait:
    """:func:`retry_wait` as a tenacity wait strategy."""

    def __init__(self, base_wait_s: float, max_wait_s: float) -> None:
        self.base_wait_s = base_wait_s
        self.max_wait_s = max_wait_s

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        after = float(retry_after) if isinstance(retry_after, (int, float)) else None
        return retry_wait(state.attempt_number, self.base_wait_s, self.max_wait_s, after)


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
    base_wait_s: float = 0.1,
    limit: ConcurrencyLimit | None = None,
    hedge: LatencyHedge | None = None,
) -> T:
    """Ask ``model`` and return its answer validated as ``schema`` (retries as the module doc).

    Raises :class:`LLMTransientError` when ``max_retries`` retries all failed,
    :class:`LLMResponseError` after ``max_reasks`` re-asks still gave no valid answer,
    :class:`LLMRequestError` at once. ``base_wait_s`` scales the backoff (module doc);
    ``hedge`` sends a second copy of a slow request.

    Example::

        answer = await call_json(llm, build_extraction_messages(msgs),
                                 schema=ExtractionAnswer, max_retries=3, max_wait_s=5)
    """
    if max_retries < 0 or max_reasks < 0:
        raise ConfigError("max_retries and max_reasks must be >= 0")
    asks = _Asks(list(messages), max_reasks)

    def resend_wait(copies: int, retry_after: float | None) -> float:
        return retry_wait(copies, base_wait_s, max_wait_s, retry_after)  # as retries do

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(LLMTransientError),
        stop=stop_after_attempt(max_retries + 1),
        wait=_Wait(base_wait_s, max_wait_s),
        before_sleep=_log_retry,
        reraise=True,
    )
    started = time.monotonic()  # a retry queues for a slot as of the call's start
    async for attempt in retrying:
        with attempt:
            if limit is None:
                return await _ask_until_valid(model, asks, schema, None, hedge, resend_wait)
            async with limit.slot(started):
                return await _ask_until_valid(model, asks, schema, limit, hedge, resend_wait)
    raise AssertionError("unreachable")  # pragma: no cover


class _Asks:
    """The conversation of one call, and its re-asks so far."""

    def __init__(self, messages: list[ChatMessage], max_reasks: int) -> None:
        self.messages = messages
        self.conversation = list(messages)
        self.max_reasks = max_reasks
        self.reasks = 0

    def reject(self, text: str | None, exc: LLMResponseError) -> None:
        """Prepare the re-ask, or raise when none is left."""
        logger.info(
            "LLM answer rejected (ask %d of %d): %s", self.reasks + 1, self.max_reasks + 1, exc
        )
        if self.reasks >= self.max_reasks:
            raise LLMResponseError(
                f"no valid answer after {self.max_reasks + 1} attempt(s): {exc}"
            ) from exc
        self.reasks += 1
        self.conversation = [*self.messages]
        if text is not None:
            self.conversation.append({"role": "assistant", "content": text})
        self.conversation.append(
            {
                "role": "user",
                "content": f"Your previous answer was not usable: {exc}. Answer again "
                "with exactly one JSON object in the format described, and nothing else.",
            }
        )


async def _ask_until_valid(
    model: ChatModel,
    asks: _Asks,
    schema: type[T],
    limit: ConcurrencyLimit | None,
    hedge: LatencyHedge | None,
    resend_wait: ResendWait,
) -> T:
    """Ask, and re-ask at once (in the caller's slot) while the answer is malformed."""
    while True:
        text: str | None = None
        try:
            text = await send(model, asks.conversation, limit, hedge, resend_wait)
            return parse_json_answer(text, schema)
        except LLMResponseError as exc:
            asks.reject(text, exc)

"""``LlamaIndexChatModel``: a LlamaIndex ``LLM`` as the core's ``ChatModel``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage

from agentmem_plugins import LLMError, LLMRequestError, LLMTransientError

__all__ = ["LlamaIndexChatModel", "classify_error"]

_TRANSIENT_NAMES = {
    "APITimeoutError",
    "APIConnectionError",
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
    "TimeoutException",
    "ConnectError",
    "ReadTimeout",
    "RemoteProtocolError",
}


def _status_code(exc: BaseException) -> int | None:
    for holder in (exc, getattr(exc, "response", None)):
        code = getattr(holder, "status_code", None)
        if isinstance(code, int):
            return code
    return None


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    try:
        return float(headers.get("retry-after")) if headers is not None else None
    except (TypeError, ValueError):
        return None


def classify_error(exc: Exception) -> LLMError:
    """The core error for a LlamaIndex LLM failure: transient ones are retried by the core.

    Timeouts, connection errors, HTTP 429 and 5xx are transient; other HTTP 4xx are
    request errors (never retried); anything else is a plain :class:`LLMError`.
    """
    if isinstance(exc, LLMError):
        return exc
    code = _status_code(exc)
    message = f"{type(exc).__name__}: {exc}"
    if code is not None:
        if code == 429 or code >= 500:
            return LLMTransientError(message, retry_after=_retry_after(exc))
        if 400 <= code < 500:
            return LLMRequestError(message)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError)) or any(
        cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__
    ):
        return LLMTransientError(message)
    return LLMError(message)


class LlamaIndexChatModel:
    """Use any LlamaIndex ``LLM`` for the core's intelligent mode.

    ``complete`` calls ``llm.achat``; failures are mapped to the core's error tree so
    transient ones (timeouts, 429, 5xx) are retried. LlamaIndex has no portable JSON
    switch: pass ``json_mode_kwargs`` (e.g. ``{"response_format": {"type":
    "json_object"}}`` for OpenAI-compatible LLMs) to forward one when the core asks for
    JSON; the core validates (and re-asks for) the answer either way.

    Example::

        from agentmem_plugins import Memory
        from llama_index.llms.openai import OpenAI
        from llama_index.memory.agentmem import LlamaIndexChatModel

        memory = Memory(path="./mem", llm=LlamaIndexChatModel(OpenAI(model="gpt-4o-mini")))
    """

    def __init__(self, llm: Any, *, json_mode_kwargs: Mapping[str, Any] | None = None) -> None:
        if not callable(getattr(llm, "achat", None)):
            raise TypeError(f"llm must be a LlamaIndex LLM (with achat), got {type(llm).__name__}")
        self.llm = llm
        self.json_mode_kwargs = dict(json_mode_kwargs or {})

    @property
    def name(self) -> str:
        model = getattr(getattr(self.llm, "metadata", None), "model_name", None)
        return f"llama_index:{type(self.llm).__name__}:{model or 'unknown'}"

    async def complete(
        self, messages: Sequence[Mapping[str, str]], *, json_mode: bool = False
    ) -> str:
        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        kwargs = self.json_mode_kwargs if json_mode else {}
        try:
            response = await self.llm.achat(chat, **kwargs)
        except Exception as exc:
            raise classify_error(exc) from exc
        return response.message.content or ""

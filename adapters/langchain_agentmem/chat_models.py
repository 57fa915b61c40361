"""Chat-model bridge: any LangChain ``BaseChatModel`` as the core's ``ChatModel``.

Intelligent mode (``infer=True``) then runs on any LangChain chat model::

    from langchain_openai import ChatOpenAI
    from agentmem_plugins import Memory

    llm = LangChainChatModel(ChatOpenAI(model="gpt-4o-mini"),
                             json_bind={"response_format": {"type": "json_object"}})
    memory = Memory(path="./mem", embedder="hash", llm=llm)

Provider errors are mapped onto the core's error tree so the core's retry policy
applies: timeouts, connection errors, HTTP 429 and 5xx become ``LLMTransientError``
(retried), other HTTP 4xx ``LLMRequestError`` (not retried), anything else ``LLMError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from agentmem_plugins import AgentMemError, LLMError, LLMRequestError, LLMTransientError

__all__ = ["JSON_HINT", "LangChainChatModel"]

#: Added to the system prompt when the core asks for JSON (``json_mode=True``).
JSON_HINT = (
    "Answer with exactly one JSON object and nothing else: no prose, no Markdown code fences."
)
_ROLES = {
    "system": SystemMessage,
    "user": HumanMessage,
    "human": HumanMessage,
    "assistant": AIMessage,
    "ai": AIMessage,
}
_TRANSIENT_NAMES = (
    "RateLimit",
    "Timeout",
    "APIConnection",
    "ServiceUnavailable",
    "InternalServer",
    "Overloaded",
)


def to_langchain_messages(
    messages: Sequence[Mapping[str, Any]], *, json_mode: bool
) -> list[BaseMessage]:
    """``[{"role", "content"}]`` as LangChain messages; the JSON hint joins the system prompt."""
    out: list[BaseMessage] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(f"messages[{i}] must be a dict with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in _ROLES:
            raise ValueError(f"messages[{i}].role must be system, user or assistant, got {role!r}")
        if not isinstance(content, str):
            raise TypeError(f"messages[{i}].content must be a str, got {type(content).__name__}")
        out.append(_ROLES[role](content=content))
    if json_mode:
        if out and isinstance(out[0], SystemMessage):
            out[0] = SystemMessage(content=f"{out[0].content}\n\n{JSON_HINT}")
        else:
            out.insert(0, SystemMessage(content=JSON_HINT))
    return out


def _text_of(message: Any) -> str:
    text = getattr(message, "text", None)
    if isinstance(text, str):  # langchain-core >= 1.0: a property (a callable str subclass)
        return str(text)
    if callable(text):  # langchain-core < 1.0: a method
        text = text()
        if isinstance(text, str):
            return text
    content = getattr(message, "content", message)
    return content if isinstance(content, str) else str(content)


def _status_of(exc: BaseException) -> int | None:
    for holder in (exc, getattr(exc, "response", None)):
        code = getattr(holder, "status_code", None) or getattr(holder, "status", None)
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return None


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    try:
        value = headers.get("retry-after") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def map_error(exc: Exception) -> AgentMemError:
    """A provider exception as the core error its retry policy understands."""
    if isinstance(exc, AgentMemError):
        return exc
    what = f"{type(exc).__name__}: {exc}"
    status = _status_of(exc)
    if status is not None:
        if status == 429 or status >= 500:
            return LLMTransientError(
                f"chat model failed with HTTP {status}: {what}", retry_after=_retry_after(exc)
            )
        if 400 <= status < 500:
            return LLMRequestError(f"chat model rejected the request (HTTP {status}): {what}")
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError)) or any(
        n in type(exc).__name__ for n in _TRANSIENT_NAMES
    ):
        return LLMTransientError(f"chat model call failed transiently: {what}")
    return LLMError(f"chat model call failed: {what}")


class LangChainChatModel:
    """A LangChain chat model as a core ``ChatModel`` (``async complete``).

    ``json_mode=True`` adds :data:`JSON_HINT` to the system prompt, and binds
    ``json_bind`` (e.g. ``{"response_format": {"type": "json_object"}}`` for OpenAI, or
    ``{"format": "json"}`` for Ollama) where given: bind arguments are provider-specific,
    so none is guessed. The core validates the answer and re-asks if it is not JSON.

    Example::

        llm = LangChainChatModel(ChatAnthropic(model="claude-3-5-haiku-latest"))
        text = await llm.complete([{"role": "user", "content": "hi"}])
    """

    def __init__(self, model: BaseChatModel, *, json_bind: Mapping[str, Any] | None = None) -> None:
        if not isinstance(model, BaseChatModel):
            raise TypeError(f"model must be a LangChain BaseChatModel, got {type(model).__name__}")
        self.model = model
        self._json_model = model.bind(**dict(json_bind)) if json_bind else model
        self.name = f"langchain:{type(model).__name__}"

    async def complete(
        self, messages: Sequence[Mapping[str, Any]], *, json_mode: bool = False
    ) -> str:
        prompt = to_langchain_messages(messages, json_mode=json_mode)
        runnable = self._json_model if json_mode else self.model
        try:
            answer = await runnable.ainvoke(prompt)
        except Exception as exc:
            raise map_error(exc) from exc
        return _text_of(answer)

    def __repr__(self) -> str:
        return f"LangChainChatModel({type(self.model).__name__})"

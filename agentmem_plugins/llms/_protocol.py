"""The ``ChatModel`` protocol: what intelligent mode needs from an LLM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypedDict, runtime_checkable

__all__ = ["ChatMessage", "ChatModel"]


class ChatMessage(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


@runtime_checkable
class ChatModel(Protocol):
    """An async chat model: messages in, text out.

    ``json_mode=True`` is a hint that the answer must be one JSON object (an
    OpenAI-compatible server gets ``response_format={"type": "json_object"}``); the
    caller still validates the answer. Implementations raise
    :class:`~agentmem_plugins.LLMTransientError` for failures worth retrying,
    :class:`~agentmem_plugins.LLMRequestError` for ones that are not.
    """

    async def complete(
        self, messages: Sequence[ChatMessage], *, json_mode: bool = False
    ) -> str: ...

"""Mapping LlamaIndex chat messages to what the core's ``add`` and ``search`` take."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, TextBlock

__all__ = ["message_text", "query_text", "to_core_messages"]

DEFAULT_ROLES = ("user", "assistant")


def message_text(message: ChatMessage) -> str:
    """The text of a message: its text blocks joined (images, tool calls... skipped)."""
    parts = [b.text for b in message.blocks if isinstance(b, TextBlock) and b.text]
    return "\n".join(parts).strip()


def _role(message: ChatMessage) -> str:
    role = message.role
    return str(getattr(role, "value", role))


def to_core_messages(
    messages: Iterable[ChatMessage], roles: Sequence[str] = DEFAULT_ROLES
) -> list[dict[str, Any]]:
    """``{"role", "content"}`` dicts for the messages worth remembering (text, known role)."""
    out = []
    for message in messages:
        role, text = _role(message), message_text(message)
        if text and role in roles:
            out.append({"role": role, "content": text})
    return out


def query_text(
    messages: Sequence[ChatMessage] | None,
    *,
    window: int,
    extra: str | None = None,
    max_chars: int = 4000,
) -> str:
    """A search query from the last ``window`` messages with text (and ``extra``, last).

    Capped at ``max_chars`` from the end: the latest words matter most for relevance.
    """
    texts = [t for t in (message_text(m) for m in messages or ()) if t]
    if window > 0:
        texts = texts[-window:]
    if extra and extra.strip() and (not texts or texts[-1] != extra.strip()):
        texts.append(extra.strip())
    return "\n".join(texts)[-max_chars:].strip()

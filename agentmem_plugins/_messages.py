"""Normalising what ``add`` accepts into validated :class:`Message` objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ._errors import InvalidInputError
from ._time import naive_utc
from ._types import Message
from ._validation import check_text

__all__ = ["naive_utc", "normalize_messages"]


def normalize_messages(
    messages: Any, *, max_chars: int, observed_at: datetime | None = None
) -> list[Message]:
    """``str | Message | {"role", "content"} | a list of those`` -> validated messages."""
    if isinstance(messages, (str, Message, Mapping)):
        items: Sequence[Any] = [messages]
    elif isinstance(messages, Sequence) and not isinstance(messages, (bytes, bytearray)):
        items = messages
    else:
        raise InvalidInputError(
            "messages must be a str, a {'role', 'content'} dict, a Message, or a list of those; "
            f"got {type(messages).__name__}"
        )
    if not items:
        raise InvalidInputError("messages is empty; give at least one message")
    out: list[Message] = []
    for i, item in enumerate(items):
        field = "messages" if len(items) == 1 and isinstance(messages, str) else f"messages[{i}]"
        if isinstance(item, str):  # fast mode's common case: built valid, no copy
            text = check_text(item, max_chars=max_chars, field=field)
            out.append(Message(content=text, observed_at=naive_utc(observed_at)))
            continue
        if isinstance(item, (Message, Mapping)):
            try:
                message = item if isinstance(item, Message) else Message.model_validate(dict(item))
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = ".".join(map(str, problem["loc"]))
                raise InvalidInputError(f"{field}.{where}: {problem['msg']}") from None
            check_text(message.content, max_chars=max_chars, field=f"{field}.content")
        else:
            raise InvalidInputError(
                f"{field} must be a str, a dict or a Message, got {type(item).__name__}"
            )
        when = naive_utc(message.observed_at or observed_at)
        out.append(message.model_copy(update={"observed_at": when}))
    return out

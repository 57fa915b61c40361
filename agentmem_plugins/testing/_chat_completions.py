"""What the loopback LLM server's chat-completions endpoint answers, faults aside: the
request read into text messages, the rule-based model's content and the task it served
(:mod:`agentmem_plugins.testing.rules`, :mod:`~agentmem_plugins.testing.mem0_rules`),
token counts, and OpenAI-shaped completion and error bodies."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from ..infer.prompts import parse_input_block
from . import mem0_rules, rules

__all__ = ["TASKS", "answer", "completion_body", "count_tokens", "error_body", "read_messages"]

TASKS = ("extract_facts", "decide", "other")


def count_tokens(text: str) -> int:
    """Our token estimate: ``ceil(len(text) / 4)``."""
    return math.ceil(len(text) / 4)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def read_messages(body: bytes) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The request and its messages as ``{"role", "content"}`` text; ``ValueError``,
    ``KeyError``, ``TypeError`` or ``AttributeError`` when it is not a valid one."""
    request = json.loads(body)
    raw_messages = request["messages"]
    messages = [
        {"role": str(m.get("role", "user")), "content": _text_of(m.get("content"))}
        for m in raw_messages
    ]
    if not messages or request.get("stream"):
        raise ValueError("messages must be a non-empty list; streaming is not supported")
    return request, messages


def answer(messages: list[dict[str, str]], *, json_mode: bool) -> tuple[str, str]:
    """The task ``messages`` ask for (counted in ``/stats``) and the rules' content."""
    payload = parse_input_block(messages)  # type: ignore[arg-type]
    task = payload.get("task") if payload else None
    if task not in (*TASKS, "extract_and_decide"):
        task = mem0_rules.mem0_task(messages) or "other"  # type: ignore[arg-type]
    content = rules.answer(messages, json_mode=json_mode)  # type: ignore[arg-type]
    return task, content


def completion_body(
    ident: int, model: str, content: str, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` body with one choice and its ``usage``."""
    return {
        "id": f"chatcmpl-{ident}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(message: str, kind: str) -> dict[str, Any]:
    """An OpenAI-shaped error body (``type`` and ``code`` both ``kind``)."""
    return {"error": {"message": message, "type": kind, "code": kind}}

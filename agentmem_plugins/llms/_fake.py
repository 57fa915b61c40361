"""Chat models for tests: a scripted one and a deterministic rule-based one.

Both satisfy :class:`~agentmem_plugins.llms.ChatModel`, need no network and record the
calls they got, so users can test their own code against intelligent mode::

    llm = ScriptedChatModel(['{"facts": [{"text": "Likes tea"}]}', LLMTransientError("429")])
    text = await llm.complete([{"role": "user", "content": "hi"}], json_mode=True)
    assert llm.calls[0].json_mode
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ._protocol import ChatMessage

__all__ = ["ChatCall", "RuleBasedChatModel", "ScriptedChatModel", "ScriptItem"]

# A script step: text to return, an exception (class or instance) to raise, or a callable
# ``f(messages, json_mode)`` (sync or async) whose result is returned (or raised).
ScriptItem = str | BaseException | type | Callable[[list[ChatMessage], bool], Any]


@dataclass(frozen=True)
class ChatCall:
    """One recorded ``complete`` call (messages copied at call time)."""

    messages: list[ChatMessage]
    json_mode: bool


class ScriptedChatModel:
    """Answers from a script, in order; raises ``AssertionError`` when it runs out.

    Example::

        llm = ScriptedChatModel(["not json", '{"facts": []}'])
        await llm.complete([{"role": "user", "content": "x"}])  # -> "not json"
        assert len(llm.calls) == 1 and llm.remaining == 1
    """

    def __init__(self, responses: Iterable[ScriptItem], *, name: str = "scripted") -> None:
        self._script: list[ScriptItem] = list(responses)
        self._next = 0
        self.name = name
        self.calls: list[ChatCall] = []

    @property
    def remaining(self) -> int:
        """Script steps not used yet."""
        return len(self._script) - self._next

    def extend(self, responses: Iterable[ScriptItem]) -> None:
        """Append more steps to the script."""
        self._script.extend(responses)

    async def complete(self, messages: Sequence[ChatMessage], *, json_mode: bool = False) -> str:
        copied: list[ChatMessage] = [dict(m) for m in messages]  # type: ignore[misc]
        self.calls.append(ChatCall(copied, json_mode))
        if self._next >= len(self._script):
            raise AssertionError(
                f"ScriptedChatModel {self.name!r} got call {len(self.calls)} "
                f"but its script has only {len(self._script)} step(s)"
            )
        step = self._script[self._next]
        self._next += 1
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, type) and issubclass(step, BaseException):
            raise step("scripted failure")
        if callable(step):
            result = cast(Callable[[list[ChatMessage], bool], Any], step)(copied, json_mode)
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, BaseException):
                raise result
            return str(result)
        return str(step)


class RuleBasedChatModel:
    """An in-process model that answers our extraction and decision prompts by rules.

    The same rules as the loopback server (:mod:`agentmem_plugins.testing.rules`): no
    network, deterministic, instant unless ``latency_s`` is set. Counts calls by task.

    Example::

        llm = RuleBasedChatModel()
        msgs = build_extraction_messages(["I live in Paris"])
        await llm.complete(msgs, json_mode=True)  # '{"facts": [{"text": "Lives in Paris", ...}]}'
    """

    def __init__(self, *, latency_s: float = 0.0, record: bool = False) -> None:
        self.latency_s = latency_s
        self.record = record
        self.calls: list[ChatCall] = []
        self.call_count = 0

    async def complete(self, messages: Sequence[ChatMessage], *, json_mode: bool = False) -> str:
        self.call_count += 1
        if self.record:
            self.calls.append(ChatCall([dict(m) for m in messages], json_mode))  # type: ignore[misc]
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        # imported here: ``import agentmem_plugins`` must not load the test helpers
        from ..testing import rules

        return rules.answer(messages, json_mode=json_mode)

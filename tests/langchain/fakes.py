"""A scripted LangChain chat model that can call tools, for offline agent tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

Step = AIMessage | str | Callable[[list[BaseMessage]], AIMessage | str]


def call(name: str, args: dict[str, Any], call_id: str = "call-1") -> AIMessage:
    """An assistant turn that calls one tool."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def answer_from_last_tool(prefix: str = "From memory: ") -> Callable[[list[BaseMessage]], str]:
    """A final turn that repeats what the last tool returned (proves what was recalled)."""

    def step(messages: list[BaseMessage]) -> str:
        tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
        return prefix + (str(tool_messages[-1].content) if tool_messages else "nothing")

    return step


class ScriptedChatModel(BaseChatModel):
    """Answers each call with the next step of its script (a message, text or callable).

    ``bind_tools`` returns the model itself, so ``create_agent`` accepts it; the script
    decides which tool calls to make. ``prompts`` records what each call was shown.
    """

    steps: list[Any]
    position: int = 0
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.position >= len(self.steps):
            raise AssertionError(f"script exhausted after {len(self.steps)} calls")
        step = self.steps[self.position]
        self.position += 1
        self.prompts.append(list(messages))
        if callable(step):
            step = step(messages)
        message = step if isinstance(step, AIMessage) else AIMessage(content=str(step))
        return ChatResult(generations=[ChatGeneration(message=message)])

"""``AgentMemMemory``: a drop-in for LlamaIndex's ``BaseMemory`` (the role of Mem0Memory)."""

from __future__ import annotations

from typing import Any, Literal

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import (
    Field,
    PrivateAttr,
    SerializeAsAny,
    model_validator,
)
from llama_index.core.memory import Memory as LlamaIndexMemory
from llama_index.core.memory.types import BaseMemory

from agentmem_plugins.loop_bridge import CoreRunner

from ._messages import DEFAULT_ROLES, message_text, query_text, to_core_messages

__all__ = ["AgentMemMemory"]

DEFAULT_PREFIX = (
    "Below are memories from earlier conversations, most relevant first. "
    "Use them when they help; they may be incomplete."
)


class AgentMemMemory(BaseMemory):
    """Short-term chat history plus long-term memories from the agentmem core.

    ``put`` stores a message in the chat history and hands it to the core (intelligent
    mode when the core has an LLM, else verbatim); ``get`` returns the chat history
    with the memories most relevant to the recent messages in a system message (merged
    into an existing one). ``reset`` clears the chat history only: long-term memories
    stay. Every method has a native async twin (``aget``, ``aput``...) that awaits the
    async core.

    Example::

        from agentmem_plugins import Memory as CoreMemory
        from llama_index.memory.agentmem import AgentMemMemory

        core = CoreMemory(path="./mem", embedder="hash")
        memory = AgentMemMemory.from_defaults(memory=core, user_id="alice")
        # FunctionAgent(...).run("hi", memory=memory)  or  SimpleChatEngine(memory=memory)
    """

    memory: Any = Field(
        exclude=True, description="The core memory: agentmem_plugins.Memory or AsyncMemory."
    )
    chat_history: SerializeAsAny[BaseMemory] = Field(
        default_factory=LlamaIndexMemory.from_defaults,
        description="Short-term memory holding this conversation's messages.",
    )
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    infer: bool | None = Field(
        default=None,
        description="None: intelligent mode when the core has an LLM; False: store verbatim.",
    )
    top_k: int = Field(default=5, ge=1)
    threshold: float | None = None
    search_mode: Literal["vector", "fulltext", "hybrid"] = "vector"
    search_msg_limit: int = Field(
        default=5, ge=1, description="How many recent messages make the search query."
    )
    remember_roles: tuple[str, ...] = DEFAULT_ROLES
    system_prefix: str = DEFAULT_PREFIX

    _runner: CoreRunner = PrivateAttr()

    @model_validator(mode="after")
    def _check(self) -> AgentMemMemory:
        CoreRunner(self.memory)
        if not (self.user_id or self.agent_id or self.run_id):
            raise ValueError("AgentMemMemory needs a scope: user_id=, agent_id= or run_id=")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._runner = CoreRunner(self.memory)

    @classmethod
    def class_name(cls) -> str:
        return "AgentMemMemory"

    @classmethod
    def from_defaults(  # type: ignore[override]
        cls,
        memory: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        chat_history: BaseMemory | None = None,
        **kwargs: Any,
    ) -> AgentMemMemory:
        """A memory over ``memory`` (the core) and a fresh LlamaIndex ``Memory`` buffer."""
        if chat_history is not None:
            kwargs["chat_history"] = chat_history
        return cls(memory=memory, user_id=user_id, agent_id=agent_id, run_id=run_id, **kwargs)

    # --- helpers: one code path for sync and async (see agentmem_plugins.loop_bridge) ----

    @property
    def _scope(self) -> dict[str, Any]:
        scope = {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}
        return {k: v for k, v in scope.items() if v}

    async def _chat(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await getattr(self.chat_history, "a" + method)(*args, **kwargs)

    async def _remember(self, messages: list[ChatMessage]) -> None:
        to_add = to_core_messages(messages, self.remember_roles)
        if to_add:
            await self._runner.arun(
                lambda m: m.add(
                    to_add,
                    **self._scope,
                    metadata={"source": "llama_index"},
                    infer=self.infer,
                )
            )

    def _with_memories(self, messages: list[ChatMessage], hits: list[Any]) -> list[ChatMessage]:
        if not hits:
            return messages
        text = "\n".join([self.system_prefix, *(f"- {h.text}" for h in hits)])
        if messages and messages[0].role == MessageRole.SYSTEM:
            existing = message_text(messages[0])
            merged = f"{existing}\n\n{text}" if existing else text
            return [ChatMessage(role=MessageRole.SYSTEM, content=merged), *messages[1:]]
        return [ChatMessage(role=MessageRole.SYSTEM, content=text), *messages]

    # --- async API ---------------------------------------------------------------------

    async def aget(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """The chat history, led by a system message with the relevant memories."""
        messages = list(await self._chat("get", input=input, **kwargs))
        query = query_text(messages, window=self.search_msg_limit, extra=input)
        if not query:
            return messages
        hits = await self._runner.arun(
            lambda m: m.search(
                query,
                **self._scope,
                limit=self.top_k,
                threshold=self.threshold,
                mode=self.search_mode,
            )
        )
        return self._with_memories(messages, hits)

    async def aget_all(self) -> list[ChatMessage]:
        return list(await self._chat("get_all"))

    async def aput(self, message: ChatMessage) -> None:
        await self._remember([message])  # first: a failure leaves both memories unchanged
        await self._chat("put", message)

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        await self._remember(list(messages))
        await self._chat("put_messages", messages)

    async def aset(self, messages: list[ChatMessage]) -> None:
        """Replace the chat history; messages beyond the current history are remembered."""
        known = len(await self._chat("get_all"))
        await self._remember(list(messages[known:]))
        await self._chat("set", messages)

    async def areset(self) -> None:
        """Clear the chat history (long-term memories stay)."""
        await self._chat("reset")

    # --- sync API: the same coroutines, run on the memory's loop (loop_bridge) ------------

    def get(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        return self._runner.run(lambda _: self.aget(input=input, **kwargs))

    def get_all(self) -> list[ChatMessage]:
        return self._runner.run(lambda _: self.aget_all())

    def put(self, message: ChatMessage) -> None:
        self._runner.run(lambda _: self.aput(message))

    def put_messages(self, messages: list[ChatMessage]) -> None:
        self._runner.run(lambda _: self.aput_messages(messages))

    def set(self, messages: list[ChatMessage]) -> None:
        self._runner.run(lambda _: self.aset(messages))

    def reset(self) -> None:
        self._runner.run(lambda _: self.areset())

"""``AgentMemMemoryBlock``: long-term memory as a block of LlamaIndex's ``Memory``."""

from __future__ import annotations

from typing import Any, Literal

from llama_index.core.base.llms.types import ChatMessage, ContentBlock, TextBlock
from llama_index.core.bridge.pydantic import Field, PrivateAttr, model_validator
from llama_index.core.memory.memory import BaseMemoryBlock
from llama_index.core.utils import get_tokenizer

from agentmem_plugins.loop_bridge import CoreRunner

from ._messages import DEFAULT_ROLES, query_text, to_core_messages

__all__ = ["AgentMemMemoryBlock"]


class AgentMemMemoryBlock(BaseMemoryBlock[list[ContentBlock]]):
    """Long-term memory for ``llama_index.core.memory.Memory``, kept in the agentmem core.

    Messages that ``Memory`` flushes out of its short-term queue are handed to the core
    (intelligent mode when the core has an LLM: facts are extracted and reconciled;
    otherwise each message is stored as said). On every ``get``, the memories most
    relevant to the latest messages are returned, best first, one text block each, and
    ``Memory`` renders them into its template; under token pressure the least relevant
    go first.

    Scope: ``user_id`` / ``agent_id`` / ``run_id`` as configured; with
    ``session_as_run_id=True`` the ``Memory``'s session id becomes the ``run_id`` (memories
    then stay inside one session). The session id is always recorded in each memory's
    metadata (``session_id``).

    Example::

        from agentmem_plugins import Memory as CoreMemory
        from llama_index.core.memory import Memory
        from llama_index.memory.agentmem import AgentMemMemoryBlock

        core = CoreMemory(path="./mem", embedder="hash")
        block = AgentMemMemoryBlock(name="long_term", memory=core, user_id="alice")
        memory = Memory.from_defaults(session_id="chat-1", memory_blocks=[block])
        # agent.run("...", memory=memory)
    """

    name: str = Field(default="long_term", description="The name of the memory block.")
    memory: Any = Field(
        exclude=True, description="The core memory: agentmem_plugins.Memory or AsyncMemory."
    )
    user_id: str | None = Field(default=None, description="Scope: whose memories these are.")
    agent_id: str | None = Field(default=None, description="Scope: which agent's memories.")
    run_id: str | None = Field(default=None, description="Scope: which run's memories.")
    session_as_run_id: bool = Field(
        default=False, description="Use the Memory's session id as run_id (session-only memories)."
    )
    infer: bool | None = Field(
        default=None,
        description="None: intelligent mode when the core has an LLM; False: store verbatim.",
    )
    top_k: int = Field(default=5, ge=1, description="How many memories to retrieve.")
    threshold: float | None = Field(default=None, description="Minimum score of a memory.")
    search_mode: Literal["vector", "fulltext", "hybrid"] = Field(default="vector")
    retrieval_context_window: int = Field(
        default=5, ge=1, description="How many recent messages make the search query."
    )
    filters: dict[str, Any] | None = Field(
        default=None, description="Core metadata filters applied to every retrieval."
    )
    remember_roles: tuple[str, ...] = Field(
        default=DEFAULT_ROLES, description="Roles of the flushed messages worth remembering."
    )
    memory_template: str = Field(
        default="- {text}",
        description="Format of one memory; fields: text, id, score, created_at, metadata.",
    )

    _runner: CoreRunner = PrivateAttr()

    @model_validator(mode="after")
    def _check(self) -> AgentMemMemoryBlock:
        CoreRunner(self.memory)  # type check, with its clear message
        if not (self.user_id or self.agent_id or self.run_id or self.session_as_run_id):
            raise ValueError(
                "AgentMemMemoryBlock needs a scope: user_id=, agent_id=, run_id= "
                "or session_as_run_id=True"
            )
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._runner = CoreRunner(self.memory)

    def _scope(self, session_id: str | None) -> dict[str, Any]:
        scope = {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}
        if self.session_as_run_id:
            if not session_id:
                raise ValueError("session_as_run_id=True but LlamaIndex gave no session id")
            scope["run_id"] = session_id
        return {k: v for k, v in scope.items() if v}

    async def _aget(
        self, messages: list[ChatMessage] | None = None, **block_kwargs: Any
    ) -> list[ContentBlock]:
        session_id = block_kwargs.get("session_id")
        query = query_text(messages, window=self.retrieval_context_window)
        if not query:
            return []
        hits = await self._runner.arun(
            lambda m: m.search(
                query,
                **self._scope(session_id),
                filters=self.filters,
                limit=self.top_k,
                threshold=self.threshold,
                mode=self.search_mode,
            )
        )
        return [
            TextBlock(
                text=self.memory_template.format(
                    text=h.text,
                    id=h.id,
                    score=h.score,
                    created_at=h.created_at,
                    metadata=h.metadata,
                )
            )
            for h in hits
        ]

    async def _aput(self, messages: list[ChatMessage]) -> None:
        session_id = next(
            (
                m.additional_kwargs.get("session_id")
                for m in messages
                if m.additional_kwargs.get("session_id")
            ),
            None,
        )
        to_add = to_core_messages(messages, self.remember_roles)
        if not to_add:
            return
        metadata = {"source": "llama_index"}
        if session_id:
            metadata["session_id"] = str(session_id)
        await self._runner.arun(
            lambda m: m.add(
                to_add,
                **self._scope(session_id),
                metadata=metadata,
                infer=self.infer,
            )
        )

    async def atruncate(
        self, content: list[ContentBlock], tokens_to_truncate: int
    ) -> list[ContentBlock] | None:
        """Drop memories from the least relevant (last) until enough tokens are freed."""
        tokenizer = get_tokenizer()
        kept = list(content)
        while kept and tokens_to_truncate > 0:
            dropped = kept.pop()
            tokens_to_truncate -= len(tokenizer(getattr(dropped, "text", "") or ""))
        return kept or None

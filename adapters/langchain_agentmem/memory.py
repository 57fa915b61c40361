"""``AgentMemMemory``: long-term memory for classic LangChain chains (``BaseMemory``).

LangChain deprecated ``BaseMemory`` in favour of agents with a store (use
:class:`~langchain_agentmem.AgentMemStore` for new code); this keeps existing
``ConversationChain``-style code working on the same core.
"""

from __future__ import annotations

from typing import Any, Literal

try:
    from langchain_classic.base_memory import BaseMemory
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by the extras test
    raise ImportError(
        'AgentMemMemory needs langchain-classic: pip install "agentmem-plugins[classic]"'
    ) from exc

from langchain_core.documents import Document
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from agentmem_plugins import AsyncMemory, Memory, MemoryItem
from agentmem_plugins.loop_bridge import CoreRunner, as_runner

from ._documents import make_scope, to_document
from ._filters import to_core_filter

__all__ = ["AgentMemMemory"]


class AgentMemMemory(BaseMemory):
    """Chain memory: recalls what is relevant to each input, remembers each turn.

    Example::

        from agentmem_plugins import Memory
        from langchain_agentmem import AgentMemMemory, LangChainChatModel

        core = Memory(path="./mem", embedder="hash", llm=LangChainChatModel(chat_model))
        memory = AgentMemMemory(memory=core, user_id="alice")
        memory.save_context({"input": "I moved to Lyon"}, {"output": "Noted!"})
        memory.load_memory_variables({"input": "where do I live?"})
        # {"history": "- Lives in Lyon"}

    ``load_memory_variables`` searches the core with the chain's input (``k`` hits,
    optional ``filter`` and ``search_mode``) and returns them under ``memory_key``, as
    ``"- text"`` lines or, with ``return_docs=True``, as ``Document`` objects.
    ``save_context`` hands the turn (user input, model output) to the core's ``add``:
    with ``infer=None`` (default) the core's LLM extracts and reconciles facts when the
    memory has one, else both messages are stored as given. ``clear`` forgets the scope.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    memory: Any = Field(description="the core memory: an AsyncMemory or a Memory")
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    memory_key: str = "history"
    input_key: str | None = None
    output_key: str | None = None
    k: int = Field(5, ge=1, le=1000)
    filter: dict[str, Any] | None = None
    search_mode: Literal["vector", "fulltext", "hybrid"] = "vector"
    return_docs: bool = False
    infer: bool | None = None

    _runner: CoreRunner = PrivateAttr()
    _scope: dict[str, Any] = PrivateAttr()

    @model_validator(mode="after")
    def _bind(self) -> AgentMemMemory:
        if not isinstance(self.memory, (AsyncMemory, Memory)):
            raise ValueError(
                "memory must be an agentmem_plugins.AsyncMemory or Memory, "
                f"got {type(self.memory).__name__}"
            )
        if self.user_id is None and self.agent_id is None and self.run_id is None:
            raise ValueError("AgentMemMemory needs a scope: user_id=, agent_id= and/or run_id=")
        self._scope = make_scope(self.user_id, self.agent_id, self.run_id, {})
        self._runner = as_runner(self.memory)
        to_core_filter(self.filter)  # fail at construction, not at the first call
        return self

    @property
    def memory_variables(self) -> list[str]:
        return [self.memory_key]

    # --- mapping -----------------------------------------------------------------------

    def _input(self, inputs: dict[str, Any]) -> str:
        key = self.input_key
        if key is None:
            candidates = [k for k in inputs if k not in (self.memory_key, "stop")]
            if len(candidates) != 1:
                raise ValueError(
                    f"cannot tell which input is the user's among {sorted(candidates)}; "
                    "set input_key="
                )
            key = candidates[0]
        if key not in inputs:
            raise KeyError(f"input_key {key!r} is not among the inputs {sorted(inputs)}")
        return _as_text(inputs[key], key)

    def _output(self, outputs: dict[str, Any]) -> str:
        key = self.output_key
        if key is None:
            if len(outputs) != 1:
                raise ValueError(
                    f"cannot tell which output to remember among {sorted(outputs)}; set output_key="
                )
            key = next(iter(outputs))
        if key not in outputs:
            raise KeyError(f"output_key {key!r} is not among the outputs {sorted(outputs)}")
        return _as_text(outputs[key], key)

    def _variables(self, hits: list[MemoryItem]) -> dict[str, Any]:
        if self.return_docs:
            docs: list[Document] = [to_document(h) for h in hits]
            return {self.memory_key: docs}
        return {self.memory_key: "\n".join(f"- {h.text}" for h in hits)}

    def _search(self, query: str) -> Any:
        flt = to_core_filter(self.filter)
        return lambda m: m.search(
            query, **self._scope, filters=flt, limit=self.k, mode=self.search_mode
        )

    def _add(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> Any:
        turn = [("user", self._input(inputs)), ("assistant", self._output(outputs))]
        messages = [{"role": r, "content": c} for r, c in turn if c.strip()]
        return lambda m: m.add(messages, **self._scope, infer=self.infer) if messages else _none()

    # --- BaseMemory ----------------------------------------------------------------------

    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        query = self._input(inputs)
        hits = self._runner.run(self._search(query)) if query.strip() else []
        return self._variables(hits)

    async def aload_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        query = self._input(inputs)
        hits = await self._runner.arun(self._search(query)) if query.strip() else []
        return self._variables(hits)

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        self._runner.run(self._add(inputs, outputs))

    async def asave_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        await self._runner.arun(self._add(inputs, outputs))

    def clear(self) -> None:
        """Forget every memory of this scope."""
        self._runner.run(lambda m: m.delete_all(**self._scope))

    async def aclear(self) -> None:
        await self._runner.arun(lambda m: m.delete_all(**self._scope))


async def _none() -> None:
    return None


def _as_text(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    text = getattr(value, "content", None)  # a message
    if isinstance(text, str):
        return text
    raise TypeError(f"{key!r} must be a str or a message, got {type(value).__name__}")

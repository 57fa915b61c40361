"""Fixtures for the LlamaIndex adapter tests: stores in tmp dirs, offline, scripted LLMs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms import ChatMessage
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.vector_stores import SimpleVectorStore
from llama_index.vector_stores.agentmem import AgentMemVectorStore

from agentmem_plugins import AsyncMemory, Memory

from ..conftest import NEEDS_PG, postgres_schema


@pytest.fixture
def core(tmp_path) -> Iterator[Memory]:
    """A sync core memory on the offline ``hash`` embedder."""
    with Memory(path=tmp_path / "core", embedder="hash") as memory:
        yield memory


@pytest.fixture
async def acore(tmp_path) -> AsyncIterator[AsyncMemory]:
    """An async core memory on the offline ``hash`` embedder (lives on the test's loop)."""
    memory = AsyncMemory(path=tmp_path / "acore", embedder="hash")
    yield memory
    await memory.close()


@pytest.fixture(params=["agentmem", pytest.param("agentmem-postgres", marks=NEEDS_PG), "simple"])
def any_store(request, tmp_path) -> Iterator[Any]:
    """Our vector store (embedded, or everything in PostgreSQL) or LlamaIndex's
    ``SimpleVectorStore``: the contract runs on all."""
    if request.param == "simple":
        yield SimpleVectorStore()
        return
    if request.param == "agentmem":
        store = AgentMemVectorStore(path=tmp_path / "vs")
        yield store
        store.close()
        return
    with postgres_schema() as url, Memory(embedder="none", sql_url=url, vector_uri=url) as core:
        yield AgentMemVectorStore(memory=core)


@pytest.fixture
def make_store(tmp_path) -> Iterator[Callable[..., AgentMemVectorStore]]:
    """Build ``AgentMemVectorStore``s (closed after the test)."""
    made: list[AgentMemVectorStore] = []

    def make(**kwargs: Any) -> AgentMemVectorStore:
        if "memory" not in kwargs:
            kwargs.setdefault("path", tmp_path / f"vs{len(made)}")
        store = AgentMemVectorStore(**kwargs)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def system_text(messages: list[ChatMessage]) -> str:
    """Everything the system messages say (where memory blocks are rendered)."""
    return "\n".join(m.content or "" for m in messages if m.role == "system")


class ScriptedAgentLLM(MockFunctionCallingLLM):
    """A function-calling LLM that answers from what its system prompt tells it.

    ``answer(messages) -> str`` decides the reply; every request's messages are kept in
    ``seen`` so tests can check what the model was shown.
    """

    _seen: list[list[ChatMessage]] = PrivateAttr(default_factory=list)

    def __init__(self, answer: Callable[[list[ChatMessage]], str]) -> None:
        seen: list[list[ChatMessage]] = []

        def generate(messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
            seen.append(list(messages))
            return ChatMessage(role="assistant", content=answer(list(messages)))

        super().__init__(response_generator=generate)
        self._seen = seen

    @property
    def seen(self) -> list[list[ChatMessage]]:
        return self._seen

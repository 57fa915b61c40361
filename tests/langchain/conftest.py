"""Fixtures for the LangChain / LangGraph adapter tests: stores in tmp dirs, offline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_agentmem import AgentMemEmbeddings, AgentMemStore
from langgraph.store.memory import InMemoryStore

from agentmem_plugins import Memory


@pytest.fixture
def memory(tmp_path) -> Iterator[Memory]:
    """A sync core memory on the offline ``hash`` embedder."""
    with Memory(path=tmp_path / "mem", embedder="hash") as m:
        yield m


@pytest.fixture
def hash_embeddings() -> AgentMemEmbeddings:
    """The core's offline embedder as LangChain Embeddings (shares words -> similar)."""
    return AgentMemEmbeddings("hash:256")


@pytest.fixture(params=["agentmem", "inmemory"])
def make_store(request, tmp_path) -> Iterator[Callable[..., Any]]:
    """Build a LangGraph store of either kind: ours, or LangGraph's own InMemoryStore.

    The contract tests run against both, to prove AgentMemStore behaves as LangGraph's
    reference store does.
    """
    made: list[Any] = []

    def make(index: dict[str, Any] | None = None, ttl: dict[str, Any] | None = None) -> Any:
        if request.param == "inmemory":
            if ttl is not None:
                pytest.skip("InMemoryStore has no TTL (PostgresStore's semantics are the model)")
            return InMemoryStore(index=index)
        store = AgentMemStore(path=tmp_path / f"store{len(made)}", index=index, ttl=ttl)
        made.append(store)
        return store

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for store in made:
        store.close()

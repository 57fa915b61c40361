"""Fixtures for the LangChain / LangGraph adapter tests: stores in tmp dirs, offline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from langchain_agentmem import AgentMemEmbeddings, AgentMemStore
from langgraph.store.memory import InMemoryStore

from agentmem_plugins import Memory

from ..conftest import NEEDS_PG, postgres_schema


@pytest.fixture
def memory(tmp_path) -> Iterator[Memory]:
    """A sync core memory on the offline ``hash`` embedder."""
    with Memory(path=tmp_path / "mem", embedder="hash") as m:
        yield m


@pytest.fixture
def hash_embeddings() -> AgentMemEmbeddings:
    """The core's offline embedder as LangChain Embeddings (shares words -> similar)."""
    return AgentMemEmbeddings("hash:256")


@pytest.fixture(params=["agentmem", pytest.param("agentmem-postgres", marks=NEEDS_PG), "inmemory"])
def make_store(request, tmp_path) -> Iterator[Callable[..., Any]]:
    """Build a LangGraph store of either kind: ours (embedded, or everything in
    PostgreSQL), or LangGraph's own InMemoryStore.

    The contract tests run against all, to prove AgentMemStore behaves as LangGraph's
    reference store does, on both backends.
    """
    made: list[Any] = []
    with ExitStack() as stack:

        def make(index: dict[str, Any] | None = None, ttl: dict[str, Any] | None = None) -> Any:
            if request.param == "inmemory":
                if ttl is not None:
                    pytest.skip("InMemoryStore has no TTL (PostgresStore's semantics rule)")
                return InMemoryStore(index=index)
            backend = {}
            if request.param == "agentmem-postgres":  # a schema per store
                url = stack.enter_context(postgres_schema())
                backend = {"sql_url": url, "vector_uri": url}
            store = AgentMemStore(
                path=tmp_path / f"store{len(made)}", index=index, ttl=ttl, **backend
            )
            made.append(store)
            return store

        make.kind = request.param.split("-")[0]  # type: ignore[attr-defined]
        yield make
        for store in made:
            store.close()

"""One sync/async bridge (agentmem_plugins.loop_bridge) for both adapter families: the
same error type and the same behaviour inside a running event loop (as in Jupyter)."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest
from langchain_agentmem import AgentMemStore, AgentMemVectorStore
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.vector_stores.agentmem import AgentMemVectorStore as LlamaVectorStore

from agentmem_plugins import AsyncMemory, ConfigError, Memory
from agentmem_plugins.loop_bridge import CoreRunner

ADAPTERS = Path(__file__).resolve().parents[1] / "adapters"
VECTOR = [1.0] + [0.0] * 7
OURS = ("langchain_agentmem", "llama_index.memory.agentmem", "llama_index.vector_stores.agentmem")


def _adapters(memory: AsyncMemory | Memory) -> tuple[AgentMemStore, LlamaVectorStore]:
    return AgentMemStore(memory=memory), LlamaVectorStore(memory=memory, user_id="u")


def test_both_families_hold_the_one_runner(tmp_path: Path) -> None:
    with Memory(path=tmp_path / "m", embedder="hash") as memory:
        langchain_store, llama_store = _adapters(memory)
        vector_store = AgentMemVectorStore(memory=memory)
        for adapter in (langchain_store, llama_store, vector_store):
            assert type(adapter._runner) is CoreRunner


def test_no_adapter_package_imports_another_ones_private_modules() -> None:
    offenders = []
    for path in ADAPTERS.rglob("*.py"):
        own = ".".join(path.relative_to(ADAPTERS).parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                ours = node.module.startswith(OURS)
                private = any(p.startswith("_") for p in node.module.split("."))
                if ours and private and not node.module.startswith(own):
                    offenders.append(f"{path.relative_to(ADAPTERS)}: {node.module}")
    assert offenders == []


async def test_over_the_facade_sync_and_async_both_work_inside_a_running_loop(
    tmp_path: Path,
) -> None:
    # this test runs on an event loop in this thread, as a Jupyter cell does
    memory = Memory(path=tmp_path / "m", embedder="hash:8")
    try:
        langchain_store, llama_store = _adapters(memory)
        langchain_store.put(("ns",), "k", {"text": "green tea"})
        assert (await langchain_store.aget(("ns",), "k")).value == {"text": "green tea"}
        from llama_index.core.schema import TextNode

        node = TextNode(text="red car", id_="n1", embedding=VECTOR)
        llama_store.add([node])
        query = VectorStoreQuery(query_embedding=VECTOR, similarity_top_k=1)
        assert llama_store.query(query).ids == ["n1"]
        assert (await llama_store.aquery(query)).ids == ["n1"]
    finally:
        memory.close()


async def test_over_an_async_memory_a_sync_call_on_its_loop_is_one_config_error(
    tmp_path: Path,
) -> None:
    async with AsyncMemory(path=tmp_path / "m", embedder="hash:8") as memory:
        langchain_store, llama_store = _adapters(memory)
        query = VectorStoreQuery(query_embedding=VECTOR, similarity_top_k=1)
        with pytest.raises(ConfigError, match="would deadlock") as from_langchain:
            langchain_store.get(("ns",), "k")
        with pytest.raises(ConfigError, match="would deadlock") as from_llama_index:
            llama_store.query(query)
        assert str(from_langchain.value) == str(from_llama_index.value)
        # the async twins work on this loop
        assert await langchain_store.aget(("ns",), "k") is None
        assert (await llama_store.aquery(query)).ids == []  # the store's scope is empty


def test_over_an_async_memory_a_second_loop_is_one_config_error(tmp_path: Path) -> None:
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        memory = first.run_until_complete(_build(tmp_path))
        langchain_store, llama_store = _adapters(memory)
        query = VectorStoreQuery(query_embedding=VECTOR, similarity_top_k=1)
        # each adapter's runner learns the memory's loop on its first awaited call
        first.run_until_complete(langchain_store.aput(("ns",), "k", {"v": 1}))
        first.run_until_complete(llama_store.aquery(query))
        for call in (langchain_store.aget(("ns",), "k"), llama_store.aquery(query)):
            with pytest.raises(ConfigError, match="another event loop"):
                second.run_until_complete(call)
        # and a sync call while no loop runs the memory has nowhere to run
        with pytest.raises(ConfigError, match="not running"):
            llama_store.query(query)
        first.run_until_complete(memory.close())
    finally:
        first.close()
        second.close()


async def _build(tmp_path: Path) -> AsyncMemory:
    return AsyncMemory(path=tmp_path / "m", embedder="hash:8")

"""Async methods await the core; none falls back to a sync twin in an executor thread.

Every sync path goes through ``CoreRunner.run``; making it fail proves that the async
methods (including LangChain's base-class ones that would otherwise use
``run_in_executor``) never take it.
"""

from __future__ import annotations

import warnings

import pytest
from langchain_agentmem import (
    AgentMemMemory,
    AgentMemRetriever,
    AgentMemStore,
    AgentMemVectorStore,
    create_memory_tools,
)
from langchain_core.documents import Document
from langgraph.store.base import GetOp, PutOp

from agentmem_plugins.loop_bridge import CoreRunner


@pytest.fixture
def no_sync(monkeypatch):
    def refuse(self, fn):
        raise AssertionError("an async method took the sync path")

    monkeypatch.setattr(CoreRunner, "run", refuse)


async def test_vector_store_and_retriever(tmp_path, hash_embeddings, no_sync):
    store = await AgentMemVectorStore.afrom_texts(
        ["green tea", "red car", "chess"], hash_embeddings, ids=["t", "c", "g"], path=tmp_path / "v"
    )
    assert await store.aadd_documents([Document("black tea", metadata={"k": 1})])
    top = await store.asimilarity_search("tea", k=1)
    assert top[0].page_content in ("green tea", "black tea")
    assert await store.asimilarity_search_with_score("tea", k=1)
    assert await store.asimilarity_search_with_relevance_scores("tea", k=1, score_threshold=0.1)
    assert await store.asimilarity_search_by_vector(await hash_embeddings.aembed_query("car"), k=1)
    assert await store.amax_marginal_relevance_search("tea", k=2)
    assert await store.asearch("tea", "hybrid", k=1)
    assert (await store.aget_by_ids(["c"]))[0].id == "c"
    await store.adelete(["c"])
    for search_type, extra in [
        ("similarity", {}),
        ("mmr", {}),
        ("hybrid", {}),
        ("similarity_score_threshold", {"score_threshold": 0.1}),
    ]:
        retriever = AgentMemRetriever(vectorstore=store, k=1, search_type=search_type, **extra)
        assert len(await retriever.ainvoke("tea")) == 1
    await store.aclose()


async def test_store(tmp_path, no_sync):
    store = AgentMemStore(path=tmp_path / "s", index={"embed": "hash", "fields": ["text"]})
    await store.aput(("ns",), "k", {"text": "green tea"})
    assert (await store.aget(("ns",), "k")).key == "k"
    assert (await store.asearch(("ns",), query="tea"))[0].key == "k"
    assert await store.alist_namespaces() == [("ns",)]
    results = await store.abatch([PutOp(("ns",), "j", {"text": "x"}), GetOp(("ns",), "k")])
    assert results[1].key == "k"
    await store.adelete(("ns",), "k")
    await store.aclose()


async def test_chain_memory_and_tools(memory, no_sync):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        chain_memory = AgentMemMemory(memory=memory, user_id="alice")
    await chain_memory.asave_context({"input": "I like tea"}, {"output": "ok"})
    assert (await chain_memory.aload_memory_variables({"input": "tea"}))["history"]
    await chain_memory.aclear()
    save, search, forget = create_memory_tools(memory, user_id="alice")
    await save.ainvoke({"text": "Alice likes tea"})
    assert "Alice likes tea" in await search.ainvoke({"query": "tea"})

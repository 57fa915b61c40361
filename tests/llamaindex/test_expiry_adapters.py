"""Expired memories are gone for the LlamaIndex vector store as for the core."""

from __future__ import annotations

from llama_index.core.vector_stores import VectorStoreQuery
from llama_index.vector_stores.agentmem import AgentMemVectorStore


def test_llamaindex_vector_store_leaves_expired_memories_out(core, clock) -> None:
    short = core.add("door code 4711", user_id="maya", ttl=60, infer=False).results[0].id
    kept = core.add("door colour is green", user_id="maya", infer=False).results[0].id
    store = AgentMemVectorStore(memory=core, user_id="maya")
    query = VectorStoreQuery(query_str="door code", similarity_top_k=5)
    assert set(store.query(query).ids or []) == {short, kept}
    clock.advance(61)
    assert store.query(query).ids == [kept]
    assert [n.node_id for n in store.get_nodes(node_ids=[short, kept])] == [kept]

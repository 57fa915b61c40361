"""Expired memories are gone for the LangChain adapters as for the core (they read
through it): the vector store, its retriever and the memory tools."""

from __future__ import annotations

from langchain_agentmem import AgentMemVectorStore, create_memory_tools


def test_langchain_adapters_leave_expired_memories_out(memory, clock) -> None:
    short = memory.add("door code 4711", user_id="maya", ttl=60, infer=False).results[0].id
    kept = memory.add("door colour is green", user_id="maya", infer=False).results[0].id
    store = AgentMemVectorStore(memory=memory, user_id="maya")
    tools = {t.name: t for t in create_memory_tools(memory, user_id="maya")}
    assert {d.id for d in store.similarity_search("door code", k=5)} == {short, kept}
    clock.advance(61)
    assert [d.id for d in store.similarity_search("door code", k=5)] == [kept]
    assert [d.id for d in store.get_by_ids([short, kept])] == [kept]
    retrieved = store.as_retriever(search_type="hybrid", k=5).invoke("door code")
    assert [d.id for d in retrieved] == [kept]
    found = tools["search_memory"].invoke({"query": "door code"})
    assert "4711" not in str(found) and "green" in str(found)

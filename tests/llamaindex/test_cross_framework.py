"""One core, three views: the core API, LlamaIndex and LangChain see the same memories."""

from __future__ import annotations

import importlib

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.memory.agentmem import AgentMemEmbedding, AgentMemMemoryBlock
from llama_index.vector_stores.agentmem import AgentMemVectorStore


def langchain_store_class():
    try:
        module = importlib.import_module("langchain_agentmem")
        return module.AgentMemVectorStore
    except (ImportError, AttributeError) as exc:  # built by another adapter issue
        pytest.skip(f"langchain_agentmem.AgentMemVectorStore is not available yet: {exc}")


def test_core_and_llamaindex_share_one_store(core):
    store = AgentMemVectorStore(memory=core, user_id="team")
    embed = AgentMemEmbedding(core.embedder)  # the same embedding space as the core
    node = TextNode(
        id_="li-1",
        text="The quarterly report is due on Friday",
        metadata={"source": "llamaindex"},
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-q")},
    )
    node.embedding = embed.get_text_embedding(node.text)
    store.add([node])

    hit = core.search("when is the quarterly report due", user_id="team", limit=1)[0]
    assert (hit.id, hit.text, hit.metadata["source"]) == ("li-1", node.text, "llamaindex")

    core.add("The office is closed on Monday", user_id="team", metadata={"source": "core"})
    query = VectorStoreQuery(
        query_str="office closed",
        query_embedding=embed.get_query_embedding("office closed"),
        similarity_top_k=1,
    )
    (from_core,) = store.query(query).nodes
    assert from_core.get_content() == "The office is closed on Monday"
    assert from_core.metadata == {"source": "core"}

    flt = MetadataFilters(filters=[MetadataFilter(key="source", value="core")])
    assert [n.get_content() for n in store.get_nodes(filters=flt)] == [from_core.get_content()]

    store.delete("doc-q")
    assert core.get_many(["li-1"]) == []

    # and the memory block reads the same memories
    assert core.count(user_id="team") == 1


async def test_memory_block_sees_what_the_vector_store_wrote(core):
    store = AgentMemVectorStore(memory=core, user_id="team")
    await store.async_add([TextNode(id_="n", text="Deploys happen on Tuesdays")])  # core embeds
    block = AgentMemMemoryBlock(memory=core, user_id="team")
    shown = await block.aget([ChatMessage(role="user", content="when do deploys happen?")])
    assert [b.text for b in shown] == ["- Deploys happen on Tuesdays"]


def test_core_llamaindex_and_langchain_at_once(core):
    lc_class = langchain_store_class()
    lc_store = lc_class(memory=core, user_id="team")
    li_store = AgentMemVectorStore(memory=core, user_id="team")
    embed = AgentMemEmbedding(core.embedder)

    node = TextNode(id_="from-li", text="Alice owns the billing service")
    node.embedding = embed.get_text_embedding(node.text)
    li_store.add([node])
    lc_ids = lc_store.add_texts(["Bob owns the search service"], metadatas=[{"by": "langchain"}])
    core.add("Carol owns the payments service", user_id="team")

    # LangChain sees what LlamaIndex and the core wrote ...
    lc_texts = {d.page_content for d in lc_store.similarity_search("who owns a service", k=10)}
    assert lc_texts == {
        "Alice owns the billing service",
        "Bob owns the search service",
        "Carol owns the payments service",
    }
    # ... LlamaIndex sees what LangChain and the core wrote ...
    text_query = VectorStoreQuery(
        query_str="owns service", mode=VectorStoreQueryMode.TEXT_SEARCH, similarity_top_k=10
    )
    li_texts = {n.get_content() for n in li_store.query(text_query).nodes}
    assert li_texts == lc_texts
    (lc_node,) = li_store.get_nodes(node_ids=list(lc_ids))
    assert lc_node.get_content() == "Bob owns the search service"
    # ... and a delete through one is gone for all.
    li_store.delete_nodes(node_ids=list(lc_ids))
    assert "Bob owns the search service" not in {
        d.page_content for d in lc_store.similarity_search("who owns a service", k=10)
    }
    assert core.count(user_id="team") == 2

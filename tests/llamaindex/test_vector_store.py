"""AgentMemVectorStore beyond the shared contract: what SimpleVectorStore cannot do."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.memory.agentmem import AgentMemEmbedding
from llama_index.vector_stores.agentmem import AgentMemVectorStore

from agentmem_plugins import AsyncMemory, ConfigError, FilterError, InvalidInputError, Memory

from .test_vector_store_contract import QUERY, ROWS, make_nodes


def F(key, value, op="==") -> MetadataFilter:  # noqa: N802
    return MetadataFilter(key=key, value=value, operator=FilterOperator(op))


@pytest.fixture
def store(make_store):
    s = make_store()
    s.add(make_nodes())
    return s


def query_ids(store, **query):
    query.setdefault("query_embedding", QUERY)
    query.setdefault("similarity_top_k", 10)
    return store.query(VectorStoreQuery(**query)).ids


def test_nodes_round_trip(store):
    rich = TextNode(
        id_="rich",
        text="round trip text",
        embedding=[0.5, 0.5, 0.5, 0.5],
        metadata={"a": 1, "nested": {"x": [1, 2]}, "none": None},
        excluded_llm_metadata_keys=["a"],
        relationships={
            NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-r", metadata={"p": 1}),
            NodeRelationship.NEXT: RelatedNodeInfo(node_id="n2"),
        },
        start_char_idx=3,
        end_char_idx=18,
    )
    store.add([rich])
    (got,) = store.get_nodes(node_ids=["rich"])
    assert got.model_dump(exclude={"embedding"}) == rich.model_dump(exclude={"embedding"})
    assert got.ref_doc_id == "doc-r"
    hit = store.query(VectorStoreQuery(query_embedding=[0.5] * 4, similarity_top_k=1)).nodes[0]
    assert hit.model_dump(exclude={"embedding"}) == rich.model_dump(exclude={"embedding"})


def test_get_nodes_by_ids_filters_or_all(store):
    assert [n.node_id for n in store.get_nodes(node_ids=["n3", "nope", "n1"])] == ["n3", "n1"]
    garden = MetadataFilters(filters=[F("kind", "garden")])
    assert sorted(n.node_id for n in store.get_nodes(filters=garden)) == ["n5", "n6"]
    assert [n.node_id for n in store.get_nodes(node_ids=["n1", "n5"], filters=garden)] == ["n5"]
    assert len(store.get_nodes()) == len(ROWS)


def test_nested_filters(store):
    # kind == food AND (rating > 4 OR NOT(year >= 2005))
    flt = MetadataFilters(
        filters=[
            F("kind", "food"),
            MetadataFilters(
                filters=[
                    F("rating", 4.0, ">"),
                    MetadataFilters(filters=[F("year", 2005, ">=")], condition=FilterCondition.NOT),
                ],
                condition=FilterCondition.OR,
            ),
        ]
    )
    assert query_ids(store, filters=flt) == ["n1"]
    either = MetadataFilters(
        filters=[
            MetadataFilters(filters=[F("kind", "auto"), F("year", 2000, "<")]),
            MetadataFilters(filters=[F("kind", "garden"), F("rating", 3.0, "<")]),
        ],
        condition=FilterCondition.OR,
    )
    assert query_ids(store, filters=either) == ["n3", "n6"]


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (F("author", "ann", "text_match_insensitive"), "not supported"),
        (F("tags", None, "is_empty"), "not supported"),
        (MetadataFilter(key="kind", value=None), "None"),
        (F("kind", "food", "in"), "list"),
        (F("kind", ["food"], "=="), "single value"),
        (F("tags", [], "any"), "non-empty list"),
        (F("year", 1, "text_match"), "string"),
        (F("bad key'", "x"), "bad metadata key"),
    ],
)
def test_filters_we_cannot_honour_raise(store, flt, message):
    with pytest.raises(FilterError, match=message):
        query_ids(store, filters=MetadataFilters(filters=[flt]))


def test_doc_ids_restrict_the_query(store):
    assert query_ids(store, doc_ids=["docC", "docB"]) == ["n3", "n5", "n4", "n6"]


def test_text_search(store):
    result = store.query(
        VectorStoreQuery(query_str="banana bread", mode=VectorStoreQueryMode.TEXT_SEARCH)
    )
    assert result.ids == ["n2"]
    assert result.nodes[0].get_content() == "banana bread"


def test_hybrid_fuses_vector_and_text(store):
    hybrid = VectorStoreQuery(
        query_embedding=QUERY,
        query_str="garden soil",
        mode=VectorStoreQueryMode.HYBRID,
        similarity_top_k=3,
    )
    ids = store.query(hybrid).ids
    assert "n5" in ids and ids[0] in ("n2", "n5")
    hybrid.alpha = 1.0  # vector only
    assert store.query(hybrid).ids == ["n2", "n1", "n3"]
    hybrid.alpha = 0.0  # text only
    assert store.query(hybrid).ids == ["n5"]


def test_unsupported_modes_and_missing_inputs_raise(store):
    with pytest.raises(ValueError, match="not supported"):
        store.query(VectorStoreQuery(query_embedding=QUERY, mode=VectorStoreQueryMode.SVM))
    with pytest.raises(ValueError, match="query_str"):
        store.query(VectorStoreQuery(mode=VectorStoreQueryMode.TEXT_SEARCH))
    with pytest.raises(ValueError, match="query_embedding"):
        store.query(VectorStoreQuery(query_str="no vector and no embedder"))
    with pytest.raises(ValueError, match="node_ids"):
        store.query(
            VectorStoreQuery(query_str="x", node_ids=["n1"], mode=VectorStoreQueryMode.TEXT_SEARCH)
        )


def test_nodes_need_text_and_a_vector(make_store):
    store = make_store()
    with pytest.raises(InvalidInputError, match="no embedding"):
        store.add([TextNode(id_="a", text="no vector")])
    with pytest.raises(InvalidInputError, match="no text"):
        store.add([TextNode(id_="b", text="  ", embedding=[1.0, 0.0])])
    assert store.get_nodes() == []


def test_a_store_with_an_embedder_embeds_texts_and_queries(make_store):
    store = make_store(embedder="hash")
    store.add([TextNode(id_="p", text="Paris is in France"), TextNode(id_="b", text="Bonn")])
    assert store.query(VectorStoreQuery(query_str="Paris France", similarity_top_k=1)).ids == ["p"]
    mmr = VectorStoreQuery(query_str="Paris France", similarity_top_k=2, mode="mmr")
    assert store.query(mmr).ids[0] == "p"


def test_data_persists_on_disk(tmp_path):
    store = AgentMemVectorStore(path=tmp_path / "persist")
    store.add(make_nodes())
    store.close()
    reopened = AgentMemVectorStore(path=tmp_path / "persist")
    try:
        assert query_ids(reopened, similarity_top_k=2) == ["n2", "n1"]
        assert reopened.get_nodes(node_ids=["n4"])[0].metadata == ROWS[3][3]
    finally:
        reopened.close()


def test_scopes_are_isolated(tmp_path, make_store):
    core = Memory(path=tmp_path / "shared", embedder="none")
    alice = make_store(memory=core, user_id="alice")
    bob = make_store(memory=core, user_id="bob")
    alice.add(make_nodes())
    bob.add([TextNode(id_="bob-1", text="bob's note", embedding=[1.0] * 4)])
    assert query_ids(bob) == ["bob-1"]
    assert bob.get_nodes(node_ids=["n1"]) == []
    bob.delete_nodes(node_ids=["n1", "n2"])
    bob.delete("docA")
    assert len(alice.get_nodes()) == len(ROWS)
    bob.clear()
    assert len(alice.get_nodes()) == len(ROWS)
    assert query_ids(alice, node_ids=["bob-1", "n1"]) == ["n1"]
    assert core.count(user_id="alice") == len(ROWS)
    core.close()


def test_vector_store_index_end_to_end(make_store):
    store = make_store()
    embed = AgentMemEmbedding("hash")
    docs = [
        Document(text="Paris is the capital of France", doc_id="fr", metadata={"lang": "fr"}),
        Document(text="Berlin is the capital of Germany", doc_id="de", metadata={"lang": "de"}),
    ]
    index = VectorStoreIndex.from_documents(
        docs, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed
    )
    hits = index.as_retriever(similarity_top_k=1).retrieve("capital of France")
    assert hits[0].node.get_content() == "Paris is the capital of France"
    assert hits[0].node.ref_doc_id == "fr" and hits[0].node.metadata == {"lang": "fr"}
    filtered = index.as_retriever(
        similarity_top_k=2, filters=MetadataFilters(filters=[F("lang", "de")])
    ).retrieve("capital of France")
    assert [h.node.ref_doc_id for h in filtered] == ["de"]
    index.delete_ref_doc("fr")
    assert [h.node.ref_doc_id for h in index.as_retriever().retrieve("capital")] == ["de"]

    async def aretrieve() -> list[str]:
        return [h.node.ref_doc_id for h in await index.as_retriever().aretrieve("Berlin")]

    assert asyncio.run(aretrieve()) == ["de"]


async def test_over_an_async_memory(tmp_path, make_store):
    acore = AsyncMemory(path=tmp_path / "async", embedder="none")
    try:
        store = make_store(memory=acore, user_id="u")
        await store.async_add(make_nodes())
        query = VectorStoreQuery(query_embedding=QUERY, similarity_top_k=2)
        assert (await store.aquery(query)).ids == ["n2", "n1"]
        assert [n.node_id for n in await store.aget_nodes(node_ids=["n6"])] == ["n6"]
        with pytest.raises(ConfigError, match="async method"):
            store.query(query)  # a sync call on the AsyncMemory's own loop would deadlock
        await store.aclear()
        assert await acore.count(user_id="u") == 0
    finally:
        await acore.close()


def test_over_an_async_memory_from_a_worker_thread(tmp_path):
    """Sync methods work from another thread while the AsyncMemory's loop runs."""

    async def main() -> list[str]:
        memory = AsyncMemory(path=tmp_path / "am", embedder="none")
        store = AgentMemVectorStore(memory=memory)
        try:
            await asyncio.to_thread(store.add, make_nodes())
            query = VectorStoreQuery(query_embedding=QUERY, similarity_top_k=1)
            return (await asyncio.to_thread(store.query, query)).ids
        finally:
            await memory.close()

    assert asyncio.run(main()) == ["n2"]


def test_client_and_constructor_errors(core, tmp_path):
    store = AgentMemVectorStore(memory=core)
    assert store.client is core and store.stores_text
    assert store.scope == {"agent_id": "llama_index"}
    with pytest.raises(ValueError, match="either path"):
        AgentMemVectorStore()
    with pytest.raises(ValueError, match="either path"):
        AgentMemVectorStore(path=tmp_path, memory=core)
    with pytest.raises(TypeError, match="AsyncMemory or Memory"):
        AgentMemVectorStore(memory=object())

"""AgentMemVectorStore and AgentMemRetriever beyond the standard suites."""

from __future__ import annotations

import pytest
from langchain_agentmem import AgentMemRetriever, AgentMemVectorStore
from langchain_core.documents import Document

from agentmem_plugins import AsyncMemory, Memory

TEXTS = [
    "Alice likes green tea in the morning",
    "Alice drinks green tea every day",
    "Bob plays chess on Sunday",
    "The red car is parked outside",
]
META = [
    {"topic": "drinks", "n": 1},
    {"topic": "drinks", "n": 2},
    {"topic": "games", "n": 3},
    {"topic": "cars", "n": 4, "tags": ["red", "vehicle"], "nested": {"a": [1, 2]}},
]


@pytest.fixture
def store(tmp_path, hash_embeddings):
    with AgentMemVectorStore.from_texts(
        TEXTS, hash_embeddings, metadatas=META, ids=["t1", "t2", "c1", "r1"], path=tmp_path / "vs"
    ) as s:
        yield s


def test_documents_round_trip_exactly(store):
    docs = store.get_by_ids(["r1", "t1", "missing"])
    assert docs == [
        Document(id="r1", page_content=TEXTS[3], metadata=META[3]),
        Document(id="t1", page_content=TEXTS[0], metadata=META[0]),
    ]


def test_filters_in_both_spellings(store):
    def ids(flt):
        return sorted(d.id for d in store.similarity_search("tea", k=10, filter=flt))

    assert ids({"topic": "drinks"}) == ["t1", "t2"]
    assert ids({"n": {"$gte": 2, "$lt": 4}}) == ["c1", "t2"]
    assert ids({"n": {"gte": 2, "lt": 4}}) == ["c1", "t2"]
    assert ids({"$or": [{"topic": "games"}, {"n": {"$in": [1]}}]}) == ["c1", "t1"]
    assert ids({"$not": {"topic": "drinks"}}) == ["c1", "r1"]
    assert ids({"tags": {"$contains": "red"}}) == ["r1"]


def test_bad_filters_are_value_errors(store):
    with pytest.raises(ValueError, match=r"\$regex"):
        store.similarity_search("tea", filter={"topic": {"$regex": "d.*"}})
    with pytest.raises(ValueError, match=r"\$xor"):
        store.similarity_search("tea", filter={"$xor": []})
    with pytest.raises(ValueError, match="dict"):
        store.similarity_search("tea", filter="topic = 'drinks'")
    with pytest.raises(ValueError, match="key"):
        store.similarity_search("tea", filter={"' OR 1=1 --": 1})


def test_scores_and_relevance(store):
    pairs = store.similarity_search_with_score("green tea", k=4)
    scores = [s for _, s in pairs]
    assert scores == sorted(scores, reverse=True) and -1.0 <= scores[-1] <= scores[0] <= 1.0
    relevant = store.similarity_search_with_relevance_scores("green tea", k=4)
    assert [d.id for d, _ in relevant] == [d.id for d, _ in pairs]
    assert [r for _, r in relevant] == pytest.approx([(1 + s) / 2 for s in scores])
    assert all(0.0 <= r <= 1.0 for _, r in relevant)
    cut = store.similarity_search_with_relevance_scores("green tea", k=4, score_threshold=0.7)
    assert {d.id for d, _ in cut} <= {"t1", "t2"} and cut


def test_search_by_vector(store, hash_embeddings):
    vector = hash_embeddings.embed_query("chess on Sunday")
    assert store.similarity_search_by_vector(vector, k=1)[0].id == "c1"


def test_mmr_prefers_diversity(store):
    plain = [d.id for d in store.similarity_search("Alice green tea", k=2)]
    diverse = [
        d.id for d in store.max_marginal_relevance_search("Alice green tea", k=2, lambda_mult=0.1)
    ]
    assert sorted(plain) == ["t1", "t2"]
    assert diverse[0] in ("t1", "t2") and diverse[1] not in ("t1", "t2")


async def test_async_twins(store):
    assert [d.id for d in await store.asimilarity_search("chess", k=1)] == ["c1"]
    assert [d.id for d in await store.amax_marginal_relevance_search("chess", k=1)] == ["c1"]
    assert (await store.aget_by_ids(["c1"]))[0].metadata == META[2]
    await store.adelete(["c1"])
    assert await store.aget_by_ids(["c1"]) == []
    assert [d.id for d in await store.asearch("tea", "hybrid", k=1)][0] in ("t1", "t2")


def test_hybrid_search(store):
    docs = store.search("chess Sunday", "hybrid", k=2)
    assert docs[0].id == "c1"
    assert store.similarity_search("parked car", k=1, mode="fulltext")[0].id == "r1"


def test_scopes_are_separate_collections(tmp_path):
    with Memory(path=tmp_path / "m", embedder="hash") as memory:
        alice = AgentMemVectorStore(memory=memory, user_id="alice")
        bob = AgentMemVectorStore(memory=memory, user_id="bob")
        alice.add_texts(["Alice likes tea"], ids=["a1"])
        bob.add_texts(["Bob likes coffee"], ids=["b1"])
        assert [d.id for d in alice.similarity_search("likes", k=5)] == ["a1"]
        assert alice.get_by_ids(["b1"]) == []
        alice.delete(["b1"])  # another scope's id: not deleted
        assert [d.id for d in bob.get_by_ids(["b1"])] == ["b1"]
        alice.delete()  # ids=None: the whole scope
        assert alice.similarity_search("likes", k=5) == []
        assert memory.count(user_id="bob") == 1
        with pytest.raises(ValueError, match="another scope"):
            alice.add_texts(["Alice takes Bob's id"], ids=["b1"])


def test_default_scope_is_documented(tmp_path, hash_embeddings):
    with AgentMemVectorStore(embedding=hash_embeddings, path=tmp_path / "vs") as store:
        store.add_texts(["x"], ids=["x"])
        assert store.scope == {"agent_id": "langchain"}
        assert store.memory.get("x").agent_id == "langchain"


async def test_over_an_async_memory(tmp_path):
    async with AsyncMemory(path=tmp_path / "m", embedder="hash") as memory:
        store = AgentMemVectorStore(memory=memory, agent_id="docs")
        ids = await store.aadd_documents([Document("green tea"), Document("red car", id="car")])
        assert ids[1] == "car"
        assert (await store.asimilarity_search("car", k=1))[0].id == "car"
        assert store.embeddings is not None


def test_bad_input(store, tmp_path, hash_embeddings):
    with pytest.raises(TypeError, match="single str"):
        store.add_texts("one text")
    with pytest.raises(ValueError, match="metadatas"):
        store.add_texts(["a", "b"], [{"x": 1}])
    with pytest.raises(ValueError, match="JSON"):
        store.add_texts(["a"], [{"when": object()}])
    with pytest.raises(ValueError, match="empty"):
        store.add_texts(["   "])
    with pytest.raises(TypeError, match="unexpected keyword"):
        store.similarity_search("tea", k=1, where="x")
    with pytest.raises(ValueError, match="mode"):
        store.similarity_search("tea", mode="fuzzy")
    with pytest.raises(ValueError, match="limit"):
        store.similarity_search("tea", k=0)
    with pytest.raises(ValueError, match="exactly one"):
        AgentMemVectorStore(path=tmp_path / "x")
    with pytest.raises(TypeError, match="Embeddings"):
        AgentMemVectorStore(embedding=object(), path=tmp_path / "y")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="user_id"):
        AgentMemVectorStore(embedding=hash_embeddings, path=tmp_path / "z", user_id="")


# --- retriever ---------------------------------------------------------------------------------


def test_as_retriever_has_a_real_k(store):
    retriever = store.as_retriever(k=1)
    assert isinstance(retriever, AgentMemRetriever) and retriever.k == 1
    assert len(retriever.invoke("tea")) == 1
    legacy = store.as_retriever(search_kwargs={"k": 3, "filter": {"topic": "drinks"}})
    assert legacy.k == 3 and {d.id for d in legacy.invoke("tea")} == {"t1", "t2"}


def test_retriever_search_types(store):
    def run(**kw):
        return [d.id for d in AgentMemRetriever(vectorstore=store, **kw).invoke("Alice green tea")]

    assert sorted(run(k=2)) == ["t1", "t2"]
    assert run(k=2, search_type="mmr", lambda_mult=0.1)[1] not in ("t1", "t2")
    assert run(k=1, search_type="hybrid")[0] in ("t1", "t2")
    assert set(run(k=4, search_type="similarity_score_threshold", score_threshold=0.7)) <= {
        "t1",
        "t2",
    }
    assert run(k=4, search_type="similarity_score_threshold", score_threshold=1.0) == []


async def test_retriever_call_overrides(store):
    retriever = AgentMemRetriever(vectorstore=store, k=4)
    assert [d.id for d in retriever.invoke("tea", k=1, filter={"topic": "cars"})] == ["r1"]
    assert len(await retriever.ainvoke("tea", k=2)) == 2
    with pytest.raises(TypeError, match="unexpected retriever"):
        retriever.invoke("tea", top_k=2)
    with pytest.raises(ValueError):
        retriever.invoke("tea", k=0)


def test_retriever_validation(store):
    with pytest.raises(ValueError, match="score_threshold"):
        AgentMemRetriever(vectorstore=store, search_type="similarity_score_threshold")
    with pytest.raises(ValueError):
        AgentMemRetriever(vectorstore=store, search_type="fuzzy")
    with pytest.raises(ValueError):
        AgentMemRetriever(vectorstore=store, k=0)
    with pytest.raises(ValueError):
        AgentMemRetriever(vectorstore="not a store")
    with pytest.raises(ValueError, match="unknown search_kwargs"):
        store.as_retriever(search_kwargs={"top_k": 3})

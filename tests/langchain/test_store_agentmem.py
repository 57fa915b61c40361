"""AgentMemStore beyond the shared contract: durability, scopes, wrapping, bad input."""

from __future__ import annotations

import asyncio
import threading

import pytest
from langchain_agentmem import AgentMemEmbeddings, AgentMemStore
from langgraph.store.base import GetOp, InvalidNamespaceError, PutOp, SearchOp

from agentmem_plugins import AsyncMemory, ConfigError, EmbedderMismatchError, Memory


@pytest.fixture
def store(tmp_path):
    with AgentMemStore(path=tmp_path / "s", index={"embed": "hash", "fields": ["text"]}) as s:
        yield s


def test_items_survive_reopen(tmp_path):
    index = {"embed": "hash", "fields": ["text"]}
    with AgentMemStore(path=tmp_path / "s", index=index) as store:
        store.put(("docs",), "k", {"text": "green tea in the morning", "n": 1})
        created = store.get(("docs",), "k").created_at
    with AgentMemStore(path=tmp_path / "s", index=index) as store:
        item = store.get(("docs",), "k")
        assert item.value == {"text": "green tea in the morning", "n": 1}
        assert item.created_at == created
        assert store.search(("docs",), query="tea")[0].key == "k"


def test_created_at_kept_across_updates(store):
    store.put(("ns",), "k", {"text": "one"})
    first = store.get(("ns",), "k")
    store.put(("ns",), "k", {"text": "two"})
    second = store.get(("ns",), "k")
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at


def test_user_label_maps_namespace_onto_core_user(tmp_path):
    with Memory(path=tmp_path / "m", embedder="hash") as memory:
        store = AgentMemStore(memory=memory, index={"fields": ["text"]}, user_label=1)
        store.put(("memories", "alice"), "a", {"text": "Alice likes green tea"})
        store.put(("memories", "bob"), "b", {"text": "Bob likes black coffee"})
        # the core sees LangGraph memories under the mapped scope ...
        alice = memory.search("tea", user_id="alice", agent_id="langgraph")
        assert [h.text for h in alice] == ["Alice likes green tea"]
        assert memory.count(user_id="bob") == 1
        # ... and a prefix search still spans users, as namespaces do
        assert {i.key for i in store.search(("memories",))} == {"a", "b"}
        assert [i.key for i in store.search(("memories", "bob"), query="tea")] == ["b"]


def test_two_stores_on_one_memory_are_separate(tmp_path):
    with Memory(path=tmp_path / "m", embedder="hash") as memory:
        one = AgentMemStore(memory=memory, agent_id="one")
        two = AgentMemStore(memory=memory, agent_id="two")
        one.put(("ns",), "k", {"v": 1})
        two.put(("ns",), "k", {"v": 2})
        assert one.get(("ns",), "k").value == {"v": 1}
        assert two.get(("ns",), "k").value == {"v": 2}
        two.delete(("ns",), "k")
        assert one.get(("ns",), "k").value == {"v": 1}
        assert two.list_namespaces() == []


def test_foreign_memories_in_the_scope_are_ignored(tmp_path):
    with Memory(path=tmp_path / "m", embedder="hash") as memory:
        store = AgentMemStore(memory=memory)
        memory.add("written by the core API", agent_id="langgraph")
        store.put(("ns",), "k", {"v": 1})
        assert [i.key for i in store.search(())] == ["k"]
        assert store.list_namespaces() == [("ns",)]


def test_nested_and_dotted_filters(store):
    store.put(("t",), "a", {"user": {"access-level": "admin", "age": 40}, "tags": ["x", "y"]})
    store.put(("t",), "b", {"user": {"access-level": "guest", "age": 20}, "tags": ["y"]})
    assert [i.key for i in store.search(("t",), filter={"user": {"access-level": "admin"}})] == [
        "a"
    ]
    assert [i.key for i in store.search(("t",), filter={"user.access-level": "guest"})] == ["b"]
    assert [i.key for i in store.search(("t",), filter={"user": {"age": {"$gt": 30}}})] == ["a"]
    assert [i.key for i in store.search(("t",), filter={"tags": ["y"]})] == ["b"]


def test_index_embed_forms(tmp_path, hash_embeddings):
    def embed_fn(texts):
        return hash_embeddings.embed_documents(list(texts))

    for i, embed in enumerate([hash_embeddings, "hash:256", embed_fn]):
        with AgentMemStore(path=tmp_path / f"s{i}", index={"embed": embed, "dims": 256}) as s:
            s.put(("t",), "a", {"text": "green tea"})
            s.put(("t",), "b", {"text": "red car"})
            assert s.search(("t",), query="green tea")[0].key == "a"
            assert s.embeddings is not None


def test_reopening_with_another_embedder_is_refused(tmp_path):
    AgentMemStore(path=tmp_path / "s", index={"embed": "hash:64"}).close()
    with pytest.raises(EmbedderMismatchError):
        AgentMemStore(path=tmp_path / "s", index={"embed": "hash:128"})


async def test_wrapping_an_async_memory(tmp_path):
    async with AsyncMemory(path=tmp_path / "m", embedder="hash") as memory:
        store = AgentMemStore(memory=memory, index={"fields": ["text"]})
        await store.aput(("ns",), "k", {"text": "green tea"})
        assert (await store.aget(("ns",), "k")).value == {"text": "green tea"}
        # sync calls work from another thread while the memory's loop runs ...
        box: dict = {}
        worker = threading.Thread(target=lambda: box.update(item=store.get(("ns",), "k")))
        worker.start()
        while worker.is_alive():
            await asyncio.sleep(0.01)
        assert box["item"].key == "k"
        # ... and on the loop itself they refuse to deadlock
        with pytest.raises(ConfigError, match="deadlock"):
            store.get(("ns",), "k")


def test_async_memory_without_a_loop_points_to_the_fix(tmp_path):
    async def build():
        return AsyncMemory(path=tmp_path / "m", embedder="hash")

    memory = asyncio.run(build())
    store = AgentMemStore(memory=memory)
    with pytest.raises(ConfigError, match="Memory"):
        store.put(("ns",), "k", {"v": 1})
    asyncio.run(memory.close())


# --- bad input at the boundary ---------------------------------------------------------------


def test_bad_values_and_keys(store):
    with pytest.raises(TypeError, match="value must be a dict"):
        store.put(("ns",), "k", "not a dict")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key must be a str"):
        store.batch([PutOp(("ns",), 5, {"v": 1})])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JSON"):
        store.put(("ns",), "k", {"when": object()})
    with pytest.raises(InvalidNamespaceError):
        store.batch([GetOp(["ns"], "k")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown operation"):
        store.batch(["get everything"])  # type: ignore[list-item]
    assert store.search(()) == []  # nothing was written by the bad calls


def test_bad_search_arguments(store):
    with pytest.raises(ValueError, match="limit"):
        store.search(("ns",), limit=-1)
    with pytest.raises(ValueError, match="filter"):
        store.search(("ns",), filter=["color", "red"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key"):
        store.search(("ns",), filter={"bad'key": 1})
    with pytest.raises(TypeError, match="query"):
        store.batch([SearchOp(("ns",), query=42)])  # type: ignore[arg-type]


def test_bad_construction(tmp_path, hash_embeddings):
    with pytest.raises(ValueError, match="dims"):
        AgentMemStore(path=tmp_path / "a", index={"embed": "hash:64", "dims": 32})
    with pytest.raises(ValueError, match="embed"):
        AgentMemStore(path=tmp_path / "b", index={"fields": ["text"]})
    with (
        Memory(path=tmp_path / "m", embedder="hash") as memory,
        pytest.raises(ValueError, match="own embedder"),
    ):
        AgentMemStore(memory=memory, index={"embed": hash_embeddings})
    with (
        Memory(path=tmp_path / "n", embedder="none") as memory,
        pytest.raises(ValueError, match="embedder"),
    ):
        AgentMemStore(memory=memory, index={"fields": ["text"]})
    with pytest.raises(TypeError, match="AsyncMemory or Memory"):
        AgentMemStore(memory="./somewhere")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="user_label"):
        AgentMemStore(path=tmp_path / "c", user_label=-1)


def test_store_embeddings_property_is_langchain(store):
    assert isinstance(store.embeddings, AgentMemEmbeddings)
    assert len(store.embeddings.embed_query("x")) == store.embeddings.dim

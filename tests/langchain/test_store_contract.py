"""The LangGraph store contract, run against AgentMemStore AND LangGraph's InMemoryStore.

LangGraph ships no standard store suite, so these cases are modelled on the ones
LangGraph's own tests cover for ``InMemoryStore`` (libs/checkpoint/tests/test_store.py
and test_store_namespace_validation.py): namespaces and ``list_namespaces``, filters,
search with and without a query, updates, deletes, batches, bad namespaces. Every test
takes ``make_store``, parametrised over both stores: a case that passes on
``InMemoryStore`` and fails on ours is a behaviour difference to fix.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)

DOCS = [
    ("doc1", {"text": "red apple", "color": "red", "score": 4.5}),
    ("doc2", {"text": "red car", "color": "red", "score": 3.0}),
    ("doc3", {"text": "green apple", "color": "green", "score": 4.0}),
    ("doc4", {"text": "blue car", "color": "blue", "score": 3.5}),
]


@pytest.fixture
def index(hash_embeddings):
    return {"dims": hash_embeddings.dim, "embed": hash_embeddings, "fields": ["text"]}


def keys(items) -> list[str]:
    return [i.key for i in items]


# --- put / get / update / delete ----------------------------------------------------------


def test_put_get_roundtrip(make_store):
    store = make_store()
    value = {"text": "Alice likes tea", "n": 3, "tags": ["a", "b"], "nested": {"x": 1.5}}
    store.put(("users", "alice"), "k1", value)
    item = store.get(("users", "alice"), "k1")
    assert item is not None
    assert item.value == value
    assert (item.namespace, item.key) == (("users", "alice"), "k1")
    assert isinstance(item.created_at, datetime) and item.created_at.tzinfo is not None
    assert item.updated_at >= item.created_at
    assert store.get(("users", "alice"), "missing") is None
    assert store.get(("users", "bob"), "k1") is None


def test_update_replaces_value(make_store):
    store = make_store()
    store.put(("ns",), "k", {"v": 1})
    first = store.get(("ns",), "k")
    store.put(("ns",), "k", {"v": 2, "extra": True})
    second = store.get(("ns",), "k")
    assert second.value == {"v": 2, "extra": True}
    assert second.updated_at >= first.updated_at
    assert len(store.search(("ns",))) == 1


def test_delete(make_store):
    store = make_store()
    store.put(("ns",), "a", {"v": 1})
    store.put(("ns",), "b", {"v": 2})
    store.delete(("ns",), "a")
    assert store.get(("ns",), "a") is None
    assert keys(store.search(("ns",))) == ["b"]
    store.delete(("ns",), "never-there")  # deleting a missing key is not an error


def test_keys_are_per_namespace(make_store):
    store = make_store()
    store.put(("a",), "k", {"v": "a"})
    store.put(("a", "b"), "k", {"v": "ab"})
    store.put(("b",), "k", {"v": "b"})
    assert store.get(("a",), "k").value == {"v": "a"}
    assert store.get(("a", "b"), "k").value == {"v": "ab"}
    assert store.get(("b",), "k").value == {"v": "b"}


# --- search without a query ------------------------------------------------------------------


def test_search_prefix_and_pagination(make_store):
    store = make_store()
    for i in range(5):
        store.put(("docs", "alice"), f"a{i}", {"i": i})
    store.put(("docs", "bob"), "b0", {"i": 10})
    store.put(("other",), "o0", {"i": 20})

    assert sorted(keys(store.search(("docs", "alice")))) == [f"a{i}" for i in range(5)]
    assert sorted(keys(store.search(("docs",)))) == [*(f"a{i}" for i in range(5)), "b0"]
    assert len(store.search(())) == 7
    assert store.search(("nope",)) == []
    assert store.search(("docs", "alice", "deeper")) == []

    page1 = keys(store.search(("docs", "alice"), limit=2))
    page2 = keys(store.search(("docs", "alice"), limit=2, offset=2))
    page3 = keys(store.search(("docs", "alice"), limit=2, offset=4))
    assert len(page1) == 2 and len(page2) == 2 and len(page3) == 1
    assert sorted(page1 + page2 + page3) == [f"a{i}" for i in range(5)]
    assert all(r.score is None for r in store.search(("docs",)))


def test_search_filters(make_store):
    store = make_store()
    for key, value in DOCS:
        store.put(("test",), key, value)
    # InMemoryStore raises on $gt & co. over items lacking the key, so these live apart
    store.put(("other",), "doc5", {"text": "x", "meta": {"kind": "fact", "level": 2}, "ok": True})

    def found(flt, ns=("test",)):
        return sorted(keys(store.search(ns, filter=flt)))

    assert found({"color": "red"}) == ["doc1", "doc2"]
    assert found({"color": {"$eq": "red"}}) == ["doc1", "doc2"]
    assert found({"color": {"$ne": "red"}}, ()) == ["doc3", "doc4", "doc5"]
    assert found({"score": {"$gt": 3.5}}) == ["doc1", "doc3"]
    assert found({"score": {"$gte": 3.5}}) == ["doc1", "doc3", "doc4"]
    assert found({"score": {"$lt": 3.5}}) == ["doc2"]
    assert found({"score": {"$lte": 3.5}}) == ["doc2", "doc4"]
    assert found({"score": {"$gte": 3.0, "$lt": 4.5}}) == ["doc2", "doc3", "doc4"]
    assert found({"score": {"$gte": 4.0}, "color": "green"}) == ["doc3"]
    assert found({"meta": {"kind": "fact"}}, ()) == ["doc5"]
    assert found({"ok": True}, ()) == ["doc5"]
    assert found({"color": "purple"}) == []


def test_unknown_filter_operator_is_a_value_error(make_store):
    store = make_store()
    store.put(("test",), "doc1", {"score": 1})
    with pytest.raises(ValueError, match=r"\$regex"):
        store.search(("test",), filter={"score": {"$regex": "1"}})


# --- search with a query -------------------------------------------------------------------


def test_vector_search_with_filters(make_store, index):
    store = make_store(index)
    for key, value in DOCS:
        store.put(("test",), key, value)

    results = store.search(("test",), query="apple", filter={"color": "red"})
    assert keys(results)[0] == "doc1" and len(results) == 2
    results = store.search(("test",), query="car", filter={"color": "red"})
    assert keys(results)[0] == "doc2" and len(results) == 2
    results = store.search(("test",), query="blue", filter={"score": {"$gt": 3.2}})
    assert keys(results)[0] == "doc4" and len(results) == 3
    results = store.search(
        ("test",), query="apple", filter={"score": {"$gte": 4.0}, "color": "green"}
    )
    assert keys(results) == ["doc3"]
    scores = [r.score for r in store.search(("test",), query="red apple")]
    assert all(isinstance(s, float) for s in scores) and scores == sorted(scores, reverse=True)


def test_vector_update_changes_embedding(make_store, index):
    store = make_store(index)
    store.put(("test",), "doc1", {"text": "zany zebra Xerxes"})
    store.put(("test",), "doc2", {"text": "something about dogs"})
    store.put(("test",), "doc3", {"text": "text about birds"})

    initial = store.search(("test",), query="Zany Xerxes")
    assert initial[0].key == "doc1"
    store.put(("test",), "doc1", {"text": "new text about dogs"})
    after = store.search(("test",), query="Zany Xerxes")
    after_score = next((r.score for r in after if r.key == "doc1"), 0.0)
    assert after_score < initial[0].score

    # not indexed: never among the scored results of a full page
    store.put(("test",), "doc4", {"text": "new text about dogs"}, index=False)
    assert "doc4" not in keys(store.search(("test",), query="new text about dogs", limit=3))
    # ...but it fills a short page, unscored, after the scored ones
    page = store.search(("test",), query="new text about dogs", limit=10)
    assert keys(page)[-1] == "doc4" and page[-1].score is None
    assert all(r.score is not None for r in page[:-1])


def test_index_fields_per_put(make_store, index):
    store = make_store(index)
    store.put(
        ("t",), "a", {"text": "unrelated words", "title": "penguins in antarctica"}, index=["title"]
    )
    store.put(("t",), "b", {"text": "penguins in antarctica", "title": "nothing"})
    assert {r.key for r in store.search(("t",), query="penguins antarctica", limit=2)} == {"a", "b"}
    assert store.search(("t",), query="penguins antarctica", limit=1)[0].score > 0.5


def test_vector_search_pagination(make_store, index):
    store = make_store(index)
    for i in range(5):
        store.put(("test",), f"doc{i}", {"text": f"test document number {i}"})
    page1 = store.search(("test",), query="test", limit=2)
    page2 = store.search(("test",), query="test", limit=2, offset=2)
    assert len(page1) == 2 and len(page2) == 2
    assert not set(keys(page1)) & set(keys(page2))
    assert len(store.search(("test",), query="test", limit=10)) == 5


def test_vector_search_edge_cases(make_store, index):
    store = make_store(index)
    store.put(("test",), "doc1", {"text": "test document"})
    assert len(store.search(("test",), query="")) == 1
    assert len(store.search(("test",), query=None)) == 1
    assert len(store.search(("test",), query="test " * 100)) == 1
    assert len(store.search(("test",), query="test!@#$%^&*()")) == 1


def test_query_without_index_is_ignored(make_store):
    store = make_store()
    for key, value in DOCS:
        store.put(("test",), key, value)
    results = store.search(("test",), query="apple", filter={"color": "red"})
    assert sorted(keys(results)) == ["doc1", "doc2"]
    assert all(r.score is None for r in results)


# --- list_namespaces ---------------------------------------------------------------------


def test_list_namespaces_basic(make_store):
    store = make_store()
    namespaces = [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
        ("users", "123"),
        ("users", "456", "settings"),
        ("admin", "users", "789"),
    ]
    for i, ns in enumerate(namespaces):
        store.put(ns, f"id_{i}", {"data": f"value_{i:02d}"})

    assert store.list_namespaces(prefix=("a", "b")) == [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
    ]
    assert store.list_namespaces(suffix=("f",)) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
    ]
    assert store.list_namespaces(prefix=("a",), suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    assert store.list_namespaces(prefix=("a", "b"), limit=2) == [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
    ]
    assert store.list_namespaces(prefix=("a", "b"), offset=2) == [
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
    ]
    assert store.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(suffix=("*", "f")) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
    ]
    assert store.list_namespaces(prefix=("nonexistent",)) == []
    assert store.list_namespaces(prefix=("users", "123")) == [("users", "123")]
    assert store.list_namespaces() == sorted(namespaces)


def test_list_namespaces_with_wildcards(make_store):
    store = make_store()
    for i, ns in enumerate(
        [
            ("users", "123"),
            ("users", "456"),
            ("users", "789", "settings"),
            ("admin", "users", "789"),
            ("guests", "123"),
            ("guests", "456", "preferences"),
        ]
    ):
        store.put(ns, f"id_{i}", {"data": i})
    assert store.list_namespaces(prefix=("users", "*")) == [
        ("users", "123"),
        ("users", "456"),
        ("users", "789", "settings"),
    ]
    assert store.list_namespaces(suffix=("*", "preferences")) == [("guests", "456", "preferences")]
    assert store.list_namespaces(prefix=("*", "users"), suffix=("*", "settings")) == []


def test_list_namespaces_pagination_and_depth(make_store):
    store = make_store()
    for i in range(20):
        store.put(("namespace", f"sub_{i:02d}"), f"id_{i:02d}", {"i": i})
    assert store.list_namespaces(prefix=("namespace",), limit=5) == [
        ("namespace", f"sub_{i:02d}") for i in range(5)
    ]
    assert store.list_namespaces(prefix=("namespace",), limit=5, offset=15) == [
        ("namespace", f"sub_{i:02d}") for i in range(15, 20)
    ]
    assert store.list_namespaces(max_depth=1) == [("namespace",)]


def test_list_namespaces_max_depth_and_empty(make_store):
    store = make_store()
    assert store.list_namespaces() == []
    for i, ns in enumerate(
        [
            ("a", "b", "c", "d"),
            ("a", "b", "c", "e"),
            ("a", "b", "f"),
            ("a", "g"),
            ("h", "i", "j", "k"),
        ]
    ):
        store.put(ns, f"id_{i}", {"i": i})
    assert store.list_namespaces(max_depth=2) == [("a", "b"), ("a", "g"), ("h", "i")]


# --- namespace validation ------------------------------------------------------------------


BAD_PUT_NAMESPACES = [(), ("the", "thing.about"), ("some", "fun", ""), ("langgraph", "foo"), (123,)]
BAD_LABELS = [("foo.bar",), ("foo", ""), (123,), ("nul\x00",)]


@pytest.mark.parametrize("namespace", BAD_PUT_NAMESPACES)
async def test_bad_namespaces_rejected_on_put(make_store, namespace):
    store = make_store()
    with pytest.raises(InvalidNamespaceError):
        store.put(namespace, "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        await store.aput(namespace, "k", {"v": 1})


@pytest.mark.parametrize("namespace", BAD_LABELS)
@pytest.mark.parametrize("method", ["get", "delete", "search", "prefix", "suffix"])
async def test_bad_labels_rejected_everywhere(make_store, namespace, method):
    store = make_store()
    with pytest.raises(InvalidNamespaceError):
        if method in ("prefix", "suffix"):
            store.list_namespaces(**{method: namespace})
        elif method == "search":
            store.search(namespace)
        else:
            getattr(store, method)(namespace, "key")
    with pytest.raises(InvalidNamespaceError):
        if method in ("prefix", "suffix"):
            await store.alist_namespaces(**{method: namespace})
        elif method == "search":
            await store.asearch(namespace)
        else:
            await getattr(store, f"a{method}")(namespace, "key")


async def test_langgraph_label_allowed_below_root_and_via_batch(make_store):
    store = make_store()
    doc = {"foo": "bar"}
    await store.aput(("foo", "langgraph", "foo"), "bar", doc)
    assert (await store.aget(("foo", "langgraph", "foo"), "bar")).value == doc
    assert (await store.asearch(("foo", "langgraph", "foo")))[0].value == doc
    await store.adelete(("foo", "langgraph", "foo"), "bar")
    assert await store.aget(("foo", "langgraph", "foo"), "bar") is None
    # past the public put API, a "langgraph" root is accepted (as InMemoryStore does)
    store.batch([PutOp(("langgraph", "foo"), "bar", doc)])
    assert store.get(("langgraph", "foo"), "bar").value == doc
    store.delete(("langgraph", "foo"), "bar")
    assert store.get(("langgraph", "foo"), "bar") is None


def test_ttl_not_supported_without_a_ttl_config(make_store):
    store = make_store()
    assert store.supports_ttl is False
    with pytest.raises(NotImplementedError):
        store.put(("ns",), "k", {"v": 1}, ttl=5.0)


# --- TTL (LangGraph's TTLConfig, with PostgresStore's semantics) ------------------------------
# InMemoryStore has no TTL, so these run on AgentMemStore only; the ``clock`` fixture
# (tests/conftest.py) moves the core's clock forward instead of sleeping.


def test_ttl_put_expires_and_every_read_leaves_it_out(make_store, index, clock):
    store = make_store(index, ttl={"default_ttl": 60})
    assert store.supports_ttl is True
    store.put(("notes", "alice"), "code", {"text": "door code 4711"}, ttl=1)
    store.put(("notes", "alice"), "tea", {"text": "likes green tea"})  # default_ttl: an hour
    store.put(("notes", "other"), "gone", {"text": "door code 1"}, ttl=1)
    assert store.get(("notes", "alice"), "code").value == {"text": "door code 4711"}
    assert len(store.search(("notes",), query="door code")) == 3
    clock.advance(61)
    assert store.get(("notes", "alice"), "code") is None
    assert keys(store.search(("notes",), query="door code")) == ["tea"]
    assert keys(store.search(("notes",))) == ["tea"]
    assert store.list_namespaces() == [("notes", "alice")]


def test_ttl_none_never_expires_and_default_ttl_applies_otherwise(make_store, clock):
    store = make_store(ttl={"default_ttl": 1})
    store.put(("ns",), "default", {"v": 1})
    store.put(("ns",), "forever", {"v": 2}, ttl=None)
    clock.advance(61)
    assert store.get(("ns",), "default") is None
    assert store.get(("ns",), "forever").value == {"v": 2}


def test_ttl_refresh_on_read_restarts_the_clock(make_store, clock):
    store = make_store(ttl={"default_ttl": 10})  # refresh_on_read defaults to True
    store.put(("ns",), "k", {"v": 1})
    store.put(("ns",), "s", {"v": 2})
    store.put(("ns",), "idle", {"v": 3})
    clock.advance(6 * 60)
    assert store.get(("ns",), "k") is not None  # refreshed: expires at 16 min
    assert len(store.search(("ns",), filter={"v": 2})) == 1  # refreshes s as well
    clock.advance(6 * 60)  # 12 min: past the first expiry, before the refreshed one
    assert store.get(("ns",), "k", refresh_ttl=False).value == {"v": 1}
    assert keys(store.search(("ns",), refresh_ttl=False)) == ["k", "s"]
    clock.advance(5 * 60)  # 17 min
    assert store.get(("ns",), "k") is None
    assert store.search(("ns",)) == []


def test_ttl_refresh_off_by_config_and_on_per_call(make_store, clock):
    store = make_store(ttl={"default_ttl": 10, "refresh_on_read": False})
    store.put(("ns",), "plain", {"v": 1})
    store.put(("ns",), "refreshed", {"v": 2})
    clock.advance(6 * 60)
    assert store.get(("ns",), "plain") is not None  # no refresh by default
    assert store.get(("ns",), "refreshed", refresh_ttl=True) is not None
    assert store.search(("ns",), filter={"v": 1}, refresh_ttl=False)[0].key == "plain"
    clock.advance(6 * 60)
    assert store.get(("ns",), "plain") is None
    assert store.get(("ns",), "refreshed").value == {"v": 2}


def test_ttl_sweep_deletes_expired_items_with_history(make_store, clock):
    store = make_store(ttl={"sweep_interval_minutes": 0.002})  # a sweep every 0.12 s
    store.put(("ns",), "k", {"v": 1}, ttl=1)
    store.put(("ns",), "keep", {"v": 2}, ttl=60)
    clock.advance(61)
    assert store.sweep_ttl() == 1
    memory_id = store._id(("ns",), "k")
    assert [e.event for e in store.memory.history(memory_id)] == ["ADD", "EXPIRE"]
    store.put(("ns",), "k2", {"v": 3}, ttl=1)
    store.start_ttl_sweeper()
    clock.advance(61)
    deadline = time.monotonic() + 20
    k2 = store._id(("ns",), "k2")
    # history reads do not look at expiry (a store read would start a sweep itself)
    while [e.event for e in store.memory.history(k2)] != ["ADD", "EXPIRE"]:
        assert time.monotonic() < deadline, "the sweeper did not sweep"
        time.sleep(0.05)
    assert store.stop_ttl_sweeper(timeout=10) is True
    assert store.get(("ns",), "keep").value == {"v": 2}


def test_ttl_bad_values_are_clear_errors(make_store):
    store = make_store(ttl={"default_ttl": 5})
    with pytest.raises(ValueError, match="ttl must be a positive number of minutes"):
        store.put(("ns",), "k", {"v": 1}, ttl=-1)
    with pytest.raises(ValueError, match="ttl must be a positive number of minutes"):
        store.put(("ns",), "k", {"v": 1}, ttl="soon")
    assert store.get(("ns",), "k") is None
    from langchain_agentmem import AgentMemStore

    with pytest.raises(ValueError, match="unknown ttl keys"):
        AgentMemStore(path="/nonexistent-never-made", ttl={"defualt_ttl": 5})
    with pytest.raises(ValueError, match="positive number of minutes"):
        AgentMemStore(path="/nonexistent-never-made", ttl={"default_ttl": 0})


async def test_ttl_async_api(make_store, clock):
    store = make_store(ttl={"default_ttl": 10})
    await store.aput(("ns",), "k", {"v": 1})
    await store.aput(("ns",), "short", {"v": 2}, ttl=1)
    clock.advance(6 * 60)
    assert (await store.aget(("ns",), "k")).value == {"v": 1}  # refreshed: 16 min
    assert await store.aget(("ns",), "short") is None
    clock.advance(6 * 60)
    assert keys(await store.asearch(("ns",))) == ["k"]
    await store.asweep_ttl()  # the reads above may have swept "short" already
    events = store.memory.history(store._id(("ns",), "short"))
    assert [e.event for e in events] == ["ADD", "EXPIRE"]


# --- batch ---------------------------------------------------------------------------------


def test_batch_results_in_op_order_reads_before_writes(make_store):
    store = make_store()
    store.put(("ns",), "old", {"v": 0})
    results = store.batch(
        [
            PutOp(("ns",), "new", {"v": 1}),
            GetOp(("ns",), "new"),
            GetOp(("ns",), "old"),
            SearchOp(("ns",)),
            ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("ns",)),)),
            PutOp(("ns",), "old", None),
        ]
    )
    assert len(results) == 6
    assert results[0] is None and results[5] is None
    assert results[1] is None  # every read of a batch sees the state before its writes
    assert results[2].value == {"v": 0}
    assert keys(results[3]) == ["old"]
    assert results[4] == [("ns",)]
    assert store.get(("ns",), "new").value == {"v": 1}
    assert store.get(("ns",), "old") is None


def test_batch_last_write_to_a_key_wins(make_store):
    store = make_store()
    store.batch(
        [
            PutOp(("ns",), "k", {"v": 1}),
            PutOp(("ns",), "k", {"v": 2}),
            PutOp(("ns",), "gone", {"v": 1}),
            PutOp(("ns",), "gone", None),
        ]
    )
    assert store.get(("ns",), "k").value == {"v": 2}
    assert store.get(("ns",), "gone") is None


async def test_async_api(make_store, index):
    store = make_store(index)
    await asyncio.gather(*(store.aput(("test",), key, value) for key, value in DOCS))
    assert (await store.aget(("test",), "doc1")).value == DOCS[0][1]
    results = await store.asearch(("test",), query="apple", filter={"color": "red"})
    assert keys(results)[0] == "doc1" and len(results) == 2
    assert await store.alist_namespaces() == [("test",)]
    await store.adelete(("test",), "doc1")
    got = await store.abatch([GetOp(("test",), "doc1"), GetOp(("test",), "doc2")])
    assert got[0] is None and got[1].key == "doc2"

"""One contract, two stores: ours and LlamaIndex's ``SimpleVectorStore``.

Where their features overlap (vector query, flat metadata filters with every operator
both support, MMR, ``node_ids``, upserts, deletes, clear, sync and async), both stores
must return the same ids, in the same order, with the same similarities.
"""

from __future__ import annotations

import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

QUERY = [0.8, 0.3, 0.2, 0.1]

ROWS = [
    # id, text, embedding, metadata, ref doc
    (
        "n1",
        "apple pie recipe",
        [1.0, 0.0, 0.1, 0.0],
        {
            "kind": "food",
            "year": 2001,
            "rating": 4.5,
            "tags": ["sweet", "baked"],
            "author": "Ann Lee",
        },
        "docA",
    ),
    (
        "n2",
        "banana bread",
        [0.9, 0.2, 0.0, 0.1],
        {"kind": "food", "year": 2010, "rating": 3.0, "tags": ["sweet"], "author": "Bob Stone"},
        "docA",
    ),
    (
        "n3",
        "car engine repair",
        [0.1, 1.0, 0.0, 0.0],
        {"kind": "auto", "year": 1999, "rating": 4.0, "tags": ["tools"], "author": "Ann Smith"},
        "docB",
    ),
    (
        "n4",
        "tyre pressure guide",
        [0.0, 0.9, 0.3, 0.0],
        {"kind": "auto", "year": 2020, "tags": []},
        "docB",
    ),
    (
        "n5",
        "garden soil tips",
        [0.2, 0.0, 1.0, 0.0],
        {"kind": "garden", "year": 2015, "rating": 5, "author": "Cy"},
        "docC",
    ),
    (
        "n6",
        "watering schedule",
        [0.0, 0.1, 0.7, 0.7],
        {"kind": "garden", "year": 2005, "rating": 2.5, "tags": ["water", "sweet"]},
        "docC",
    ),
]


def make_nodes() -> list[TextNode]:
    return [
        TextNode(
            id_=node_id,
            text=text,
            embedding=embedding,
            metadata=dict(metadata),
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)},
        )
        for node_id, text, embedding, metadata, doc in ROWS
    ]


def ids_of(store, top_k: int = 10, **query) -> list[str]:
    result = store.query(VectorStoreQuery(query_embedding=QUERY, similarity_top_k=top_k, **query))
    return list(result.ids or [])


def F(key, value, op="==") -> MetadataFilter:  # noqa: N802 - reads like the framework's
    return MetadataFilter(key=key, value=value, operator=FilterOperator(op))


FILTER_CASES = {
    "eq str": [F("kind", "food")],
    "eq int vs stored float": [F("rating", 5.0)],
    "eq ref doc id": [F("doc_id", "docB")],
    "ne (missing key matches)": [F("rating", 3.0, "!=")],
    "gt": [F("year", 2005, ">")],
    "gte": [F("year", 2005, ">=")],
    "lt float": [F("rating", 4.0, "<")],
    "lte": [F("year", 2005, "<=")],
    "gt str": [F("author", "Bob", ">")],
    "in": [F("kind", ["food", "garden"], "in")],
    "nin (missing key matches)": [F("rating", [3.0, 5], "nin")],
    "contains list element": [F("tags", "sweet", "contains")],
    "contains substring": [F("author", "Ann", "contains")],
    "any": [F("tags", ["tools", "water"], "any")],
    "all": [F("tags", ["sweet", "baked"], "all")],
    "text_match": [F("author", "Smith", "text_match")],
    "and of two": [F("kind", "food"), F("rating", 4.0, ">")],
}


@pytest.fixture
def loaded(any_store):
    assert any_store.add(make_nodes()) == [r[0] for r in ROWS]
    return any_store


def test_default_query_ranks_and_scores(loaded):
    result = loaded.query(VectorStoreQuery(query_embedding=QUERY, similarity_top_k=3))
    assert result.ids == ["n2", "n1", "n3"]
    expected = [0.9646, 0.9239, 0.4281]  # cosine similarity to QUERY
    assert result.similarities == pytest.approx(expected, abs=1e-3)


def test_default_query_returns_every_node_at_most(loaded):
    assert ids_of(loaded) == ["n2", "n1", "n3", "n5", "n4", "n6"]


@pytest.mark.parametrize("case", FILTER_CASES, ids=list(FILTER_CASES))
def test_filters_match_llamaindex_semantics(loaded, case):
    expected = {
        "eq str": ["n2", "n1"],
        "eq int vs stored float": ["n5"],
        "eq ref doc id": ["n3", "n4"],
        "ne (missing key matches)": ["n1", "n3", "n5", "n4", "n6"],
        "gt": ["n2", "n5", "n4"],
        "gte": ["n2", "n5", "n4", "n6"],
        "lt float": ["n2", "n6"],
        "lte": ["n1", "n3", "n6"],
        "gt str": ["n2", "n5"],
        "in": ["n2", "n1", "n5", "n6"],
        "nin (missing key matches)": ["n1", "n3", "n4", "n6"],
        "contains list element": ["n2", "n1", "n6"],
        "contains substring": ["n1", "n3"],
        "any": ["n3", "n6"],
        "all": ["n1"],
        "text_match": ["n3"],
        "and of two": ["n1"],
    }[case]
    assert ids_of(loaded, filters=MetadataFilters(filters=FILTER_CASES[case])) == expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("or", ["n3", "n4", "n6"]),
        ("not", ["n3", "n6"]),  # none of the filters match
    ],
)
def test_filter_conditions(loaded, condition, expected):
    filters = {
        "or": [F("kind", "auto"), F("rating", 3.0, "<")],
        "not": [F("kind", "food"), F("year", 2012, ">")],
    }[condition]
    flt = MetadataFilters(filters=filters, condition=FilterCondition(condition))
    assert ids_of(loaded, filters=flt) == expected


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.9])
def test_mmr(loaded, threshold):
    query = VectorStoreQuery(
        query_embedding=QUERY, similarity_top_k=3, mode=VectorStoreQueryMode.MMR
    )
    result = loaded.query(query, mmr_threshold=threshold)
    reference = {0.2: ["n2", "n6", "n1"], 0.5: ["n2", "n5", "n1"], 0.9: ["n2", "n1", "n3"]}
    assert result.ids == reference[threshold]
    assert len(result.similarities) == 3


def test_node_ids_restrict_the_query(loaded):
    assert ids_of(loaded, top_k=2, node_ids=["n2", "n5", "n6"]) == ["n2", "n5"]


def test_add_again_replaces_the_node(loaded):
    moved = make_nodes()[0]
    moved.embedding = [0.0, 0.0, 0.0, 1.0]
    loaded.add([moved])
    assert ids_of(loaded) == ["n2", "n3", "n5", "n4", "n6", "n1"]


def test_delete_by_ref_doc_id(loaded):
    loaded.delete("docA")
    assert ids_of(loaded) == ["n3", "n5", "n4", "n6"]
    loaded.delete("no-such-doc")
    assert len(ids_of(loaded)) == 4


def test_delete_nodes_by_ids_filters_or_both(loaded):
    loaded.delete_nodes(node_ids=["n1", "missing"])
    assert ids_of(loaded) == ["n2", "n3", "n5", "n4", "n6"]
    loaded.delete_nodes(filters=MetadataFilters(filters=[F("kind", "garden")]))
    assert ids_of(loaded) == ["n2", "n3", "n4"]
    loaded.delete_nodes(node_ids=["n2", "n3"], filters=MetadataFilters(filters=[F("kind", "auto")]))
    assert ids_of(loaded) == ["n2", "n4"]


def test_clear(loaded):
    loaded.clear()
    assert ids_of(loaded) == []


async def test_async_twins(any_store):
    assert await any_store.async_add(make_nodes()) == [r[0] for r in ROWS]
    query = VectorStoreQuery(query_embedding=QUERY, similarity_top_k=2)
    assert (await any_store.aquery(query)).ids == ["n2", "n1"]
    await any_store.adelete("docA")
    await any_store.adelete_nodes(node_ids=["n3"])
    assert (await any_store.aquery(query)).ids == ["n5", "n4"]
    await any_store.aclear()
    assert (await any_store.aquery(query)).ids == []

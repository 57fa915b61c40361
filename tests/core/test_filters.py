"""Metadata filters: every operator, logic, typing rules, and values that look like code."""

from __future__ import annotations

import pytest

from agentmem_plugins import AsyncMemory, FilterError

DOCS = [
    {"name": "a", "n": 1, "price": 9.5, "tag": "red", "tags": ["x", "y"], "ok": True},
    {"name": "b", "n": 2, "price": 20.0, "tag": "blue", "tags": ["y"], "ok": False},
    {"name": "c", "n": 3, "tag": "red apple", "tags": [], "ok": True, "date": "2024-05-01"},
    {"name": "d", "n": "3", "date": "2023-01-01", "nothing": None},
]


@pytest.fixture
async def store(amem: AsyncMemory) -> AsyncMemory:
    await amem.add_many(
        {"text": f"document {d['name']}", "user_id": "u", "metadata": d} for d in DOCS
    )
    await amem.add("document other scope", user_id="v", metadata={"n": 1})
    return amem


async def names(memory: AsyncMemory, flt, *, search: bool = False) -> list[str]:
    if search:
        items = await memory.search("document", user_id="u", filters=flt, limit=50)
    else:
        items = await memory.get_all(user_id="u", filters=flt)
    return sorted(m.metadata["name"] for m in items)


CASES = [
    ({"n": 1}, ["a"]),
    ({"n": 3}, ["c"]),  # the string "3" is not the number 3
    ({"n": "3"}, ["d"]),
    ({"n": {"eq": 2}}, ["b"]),
    ({"n": {"ne": 1}}, ["b", "c", "d"]),
    ({"n": {"gt": 1}}, ["b", "c"]),
    ({"n": {"gte": 1, "lt": 3}}, ["a", "b"]),
    ({"price": {"lte": 9.5}}, ["a"]),
    ({"date": {"gte": "2024-01-01"}}, ["c"]),
    ({"tag": {"in": ["red", "blue"]}}, ["a", "b"]),
    ({"tag": {"nin": ["red"]}}, ["b", "c", "d"]),  # missing key counts as "not in"
    ({"tag": {"contains": "red"}}, ["a", "c"]),
    ({"tags": {"contains": "y"}}, ["a", "b"]),
    ({"ok": True}, ["a", "c"]),
    ({"ok": False}, ["b"]),
    ({"nothing": None}, ["d"]),
    ({"OR": [{"n": 1}, {"tag": "blue"}]}, ["a", "b"]),
    ({"AND": [{"ok": True}, {"tag": {"contains": "apple"}}]}, ["c"]),
    ({"NOT": {"ok": True}}, ["b", "d"]),
    ({"tag": "red", "n": 1}, ["a"]),
    ({"tag": "%"}, []),  # LIKE wildcards are escaped
    ({"tag": {"contains": "_"}}, []),
]


@pytest.mark.parametrize(("flt", "expected"), CASES)
async def test_filter_semantics(store: AsyncMemory, flt, expected) -> None:
    assert await names(store, flt) == expected
    assert await names(store, flt, search=True) == expected
    assert await store.count(user_id="u", filters=flt) == len(expected)


@pytest.mark.parametrize(
    "value", ["' OR 1=1 --", "a'); DROP TABLE memories; --", '" OR ""="', "\\", "%"]
)
async def test_values_that_look_like_code_are_just_values(store: AsyncMemory, value) -> None:
    assert await names(store, {"tag": value}) == []
    assert await store.search("document", user_id=value) == []
    assert await store.count(user_id="u") == 4  # nothing was dropped


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        ({"n": {"like": 1}}, "unknown operator 'like'"),
        ({"n": {"in": 3}}, "non-empty list"),
        ({"n": {"gt": [1]}}, "number or a string"),
        ({"n": {"gt": True}}, "number or a string"),
        ({"n": {"eq": {"a": 1}}}, "filter values must be"),
        ({"bad'key": 1}, "bad metadata key"),
        ({"OR": {"n": 1}}, "non-empty list"),
        ({"and": [{"n": 1}]}, "upper-case: use 'AND'"),
        ({"n": {}}, "empty operator dict"),
        ([("n", 1)], "must be a dict"),
    ],
)
async def test_bad_filters_raise_filter_error_naming_the_problem(
    store: AsyncMemory, flt, message
) -> None:
    with pytest.raises(FilterError, match=message):
        await store.search("document", user_id="u", filters=flt)
    assert isinstance(FilterError("x"), ValueError)


async def test_selective_filters_use_exact_search_and_still_rank(store: AsyncMemory) -> None:
    hits = await store.search("document a", user_id="u", filters={"ok": True}, limit=5)
    assert [h.metadata["name"] for h in hits][0] == "a"
    assert all(h.score is not None for h in hits)


async def test_filters_widen_the_candidate_fetch_until_enough_match(amem: AsyncMemory) -> None:
    """A filter matching rows far down the vector ranking must still fill the limit."""
    await amem.add_many(
        {"text": f"cats and dogs {i}", "user_id": "u", "metadata": {"rare": i % 500 == 0}}
        for i in range(6000)
    )
    hits = await amem.search("cats and dogs", user_id="u", filters={"rare": True}, limit=12)
    assert len(hits) == 12 and all(h.metadata["rare"] for h in hits)
    hits = await amem.search(
        "cats and dogs", user_id="u", filters={"rare": False}, limit=5, mode="fulltext"
    )
    assert len(hits) == 5 and not any(h.metadata["rare"] for h in hits)


async def test_the_index_path_widens_its_fetch_for_filters(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash", exact_search_max_rows=0) as memory:
        await memory.add_many(
            {"text": f"cats and dogs {i}", "user_id": "u", "metadata": {"rare": i % 300 == 0}}
            for i in range(3000)
        )
        hits = await memory.search("cats and dogs", user_id="u", filters={"rare": True}, limit=10)
        assert len(hits) == 10 and all(h.metadata["rare"] for h in hits)
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)

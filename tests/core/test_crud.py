"""The core API end to end on the offline embedder: typed results, scopes, history."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agentmem_plugins import (
    AddResult,
    AsyncMemory,
    HistoryEvent,
    MemoryItem,
    NotFoundError,
    ScopeError,
)


async def test_add_returns_typed_events_and_get_round_trips(amem: AsyncMemory) -> None:
    result = await amem.add("I live in Paris", user_id="alice", metadata={"topic": "home"})
    assert isinstance(result, AddResult)
    assert [e.event for e in result.results] == ["ADD"]
    item = await amem.get(result.results[0].id)
    assert isinstance(item, MemoryItem)
    assert (item.text, item.user_id, item.metadata) == (
        "I live in Paris",
        "alice",
        {"topic": "home"},
    )
    assert item.created_at.tzinfo is not None and item.invalid_at is None


async def test_messages_are_stored_one_memory_each_without_inference(amem: AsyncMemory) -> None:
    result = await amem.add(
        [{"role": "user", "content": "I like tea"}, {"role": "assistant", "content": "Noted!"}],
        user_id="u",
        infer=False,
    )
    assert [e.text for e in result.results] == ["I like tea", "Noted!"]
    history = await amem.history(result.results[1].id)
    assert history[0].role == "assistant"


async def test_search_ranks_shared_words_first_and_scores(amem: AsyncMemory) -> None:
    await amem.add_many(
        [
            {"text": "Alice lives in Paris near the river", "user_id": "alice"},
            {"text": "The quarterly tax report is due", "user_id": "alice"},
            {"text": "Bananas are rich in potassium", "user_id": "alice"},
        ]
    )
    hits = await amem.search("where does alice live? Paris", user_id="alice", limit=3)
    assert hits[0].text.startswith("Alice lives in Paris")
    assert all(h.score is not None for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert -1.0 <= hits[-1].score <= hits[0].score <= 1.0 + 1e-6


async def test_scopes_are_isolated(amem: AsyncMemory) -> None:
    a = (await amem.add("secret of alice", user_id="alice")).results[0].id
    await amem.add("secret of bob", user_id="bob")
    assert [h.text for h in await amem.search("secret", user_id="bob")] == ["secret of bob"]
    assert await amem.count(user_id="bob") == 1
    assert await amem.delete_all(user_id="bob") == 1
    assert (await amem.get(a)).text == "secret of alice"
    assert await amem.count(all_scopes=True) == 1


async def test_scope_fields_combine_with_and(amem: AsyncMemory) -> None:
    await amem.add("one", user_id="u", agent_id="a1")
    await amem.add("two", user_id="u", agent_id="a2")
    await amem.add("three", user_id="u", run_id="r")
    assert await amem.count(user_id="u") == 3
    assert [m.text for m in await amem.get_all(user_id="u", agent_id="a2")] == ["two"]
    assert [m.text for m in await amem.get_all(run_id="r")] == ["three"]


async def test_reads_without_scope_need_all_scopes(amem: AsyncMemory) -> None:
    with pytest.raises(ScopeError):
        await amem.search("x")
    with pytest.raises(ScopeError):
        await amem.get_all()
    assert await amem.search("x", all_scopes=True) == []


async def test_update_reembeds_and_writes_history(amem: AsyncMemory) -> None:
    memory_id = (await amem.add("I live in Paris", user_id="alice")).results[0].id
    updated = await amem.update(memory_id, text="I live in Berlin", metadata={"v": 2})
    assert (updated.text, updated.metadata) == ("I live in Berlin", {"v": 2})
    hits = await amem.search("Berlin", user_id="alice", limit=1)
    assert hits[0].id == memory_id
    same = await amem.update(memory_id, metadata={"v": 3})  # text kept, vector reused
    assert same.text == "I live in Berlin" and same.created_at == updated.created_at
    await amem.delete(memory_id)
    history = await amem.history(memory_id)
    assert all(isinstance(h, HistoryEvent) for h in history)
    assert [h.event for h in history] == ["ADD", "UPDATE", "UPDATE", "DELETE"]
    assert (history[1].old_text, history[1].new_text) == ("I live in Paris", "I live in Berlin")
    with pytest.raises(NotFoundError):
        await amem.get(memory_id)


async def test_unknown_ids_raise_not_found_and_change_nothing(amem: AsyncMemory) -> None:
    await amem.add("keep me", user_id="u")
    for call in (
        amem.get("nope"),
        amem.update("nope", text="x"),
        amem.delete("nope"),
        amem.history("nope"),
    ):
        with pytest.raises(NotFoundError, match="nope"):
            await call
    assert await amem.delete_many(["nope", "nada"]) == 0
    assert await amem.count(user_id="u") == 1


async def test_get_all_pages_stably(amem: AsyncMemory) -> None:
    ids = await amem.add_many({"text": f"memory {i}", "user_id": "u"} for i in range(25))
    pages = [await amem.get_all(user_id="u", limit=10, offset=o) for o in (0, 10, 20)]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert sorted(m.id for p in pages for m in p) == sorted(ids)
    assert await amem.get_many([ids[3], "missing", ids[1]]) == [
        await amem.get(ids[3]),
        await amem.get(ids[1]),
    ]


async def test_add_many_with_ids_is_an_idempotent_upsert(amem: AsyncMemory) -> None:
    items = [{"id": f"doc-{i}", "text": f"text {i}", "user_id": "u"} for i in range(3)]
    assert await amem.add_many(items) == ["doc-0", "doc-1", "doc-2"]
    assert await amem.add_many(items) == ["doc-0", "doc-1", "doc-2"]
    assert await amem.count(user_id="u") == 3
    await amem.add_many([{"id": "doc-1", "text": "changed", "user_id": "u"}])
    assert (await amem.get("doc-1")).text == "changed"
    assert [h.event for h in await amem.history("doc-1")] == ["ADD", "UPDATE", "UPDATE"]
    hits = await amem.search("changed", user_id="u", limit=1)
    assert hits[0].id == "doc-1"


async def test_precomputed_vectors_are_stored_as_given(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="none") as memory:
        await memory.add_many(
            [
                {"id": "x", "text": "east", "user_id": "u", "vector": [1.0, 0.0, 0.0]},
                {"id": "y", "text": "north", "user_id": "u", "vector": [0.0, 1.0, 0.0]},
            ]
        )
        hits = await memory.search(vector=[0.9, 0.1, 0.0], user_id="u", limit=2)
        assert [h.id for h in hits] == ["x", "y"]
        assert hits[0].score == pytest.approx(0.9 / (0.9**2 + 0.1**2) ** 0.5, rel=1e-5)


async def test_reset_drops_everything(amem: AsyncMemory) -> None:
    await amem.add_many([{"text": "a", "user_id": "u"}, {"text": "b", "user_id": "v"}])
    await amem.reset()
    assert await amem.count(all_scopes=True) == 0
    await amem.add("after reset", user_id="u")
    assert [h.text for h in await amem.search("after reset", user_id="u")] == ["after reset"]


async def test_observed_at_is_kept(amem: AsyncMemory) -> None:
    when = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    memory_id = (await amem.add("met Bob", user_id="u", observed_at=when)).results[0].id
    assert (await amem.get(memory_id)).observed_at == when


def test_sync_facade_mirrors_async_api(mem) -> None:
    memory_id = mem.add("I like green tea", user_id="u").results[0].id
    assert mem.search("green tea", user_id="u")[0].id == memory_id
    assert mem.count(user_id="u") == 1
    assert mem.get(memory_id).text == "I like green tea"
    mem.delete(memory_id)
    assert mem.count(user_id="u") == 0


async def test_sync_facade_works_inside_a_running_loop(tmp_path) -> None:
    """Jupyter runs cells inside an event loop; the facade must not need its own."""
    from agentmem_plugins import Memory

    with Memory(path=tmp_path, embedder="hash") as memory:
        memory.add("inside a loop", user_id="u")
        assert memory.search("loop", user_id="u")[0].text == "inside a loop"


async def test_get_many_and_delete_many_can_be_held_to_a_scope(amem: AsyncMemory) -> None:
    a = (await amem.add("alice's", user_id="alice")).results[0].id
    b = (await amem.add("bob's", user_id="bob")).results[0].id
    assert [m.id for m in await amem.get_many([a, b], user_id="bob")] == [b]
    assert await amem.delete_many([a, b], user_id="bob") == 1
    assert (await amem.get(a)).text == "alice's"


def test_a_memory_left_open_is_closed_at_exit(tmp_path) -> None:
    """A script that never calls close() must still exit, with its writes stored."""
    import subprocess
    import sys

    script = (
        "from agentmem_plugins import Memory\n"
        f"m = Memory(path={str(tmp_path)!r}, embedder='hash')\n"
        "m.add('left open', user_id='u')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    from agentmem_plugins import Memory

    with Memory(path=tmp_path, embedder="hash") as memory:
        assert [m.text for m in memory.get_all(user_id="u")] == ["left open"]


async def test_get_vectors_returns_what_was_stored(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="none") as memory:
        await memory.add_many(
            [
                {"id": "a", "text": "a", "user_id": "u", "vector": [0.5, 0.5]},
                {"id": "b", "text": "b", "user_id": "v", "vector": [1.0, 0.0]},
            ]
        )
        got = await memory.get_vectors(["a", "b", "zzz"])
        assert got.keys() == {"a", "b"} and got["a"].tolist() == [0.5, 0.5]
        assert (await memory.get_vectors(["a", "b"], user_id="v")).keys() == {"b"}

"""Small scopes' vectors are cached between searches, and never outlive a write."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agentmem_plugins import AsyncMemory, _expiry


async def test_cached_scope_sees_every_later_write(tmp_path: Path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash") as memory:
        ids = await memory.add_many(
            [{"text": f"note {i} about gardening", "user_id": "alice"} for i in range(20)]
        )
        first = await memory.search("tomatoes in the garden", user_id="alice", limit=3)
        again = await memory.search("tomatoes in the garden", user_id="alice", limit=3)
        assert [h.id for h in first] == [h.id for h in again]
        assert memory._searcher._cache._entries  # the second search was served from memory

        # an update through this handle
        await memory.update(ids[0], text="tomatoes in the garden")
        top = await memory.search("tomatoes in the garden", user_id="alice", limit=1)
        assert (top[0].id, top[0].text) == (ids[0], "tomatoes in the garden")

        # a write through another handle on the same store (as another process would)
        async with AsyncMemory(path=tmp_path, embedder="hash") as other:
            (new,) = await other.add_many(
                [{"text": "cucumbers on the balcony", "user_id": "alice"}]
            )
            await other.delete(ids[0])
        hits = await memory.search("cucumbers on the balcony", user_id="alice", limit=20)
        assert hits[0].id == new
        assert ids[0] not in {h.id for h in hits}
        assert await memory.count(user_id="alice") == len(hits)


async def test_cache_off_and_large_verdict(tmp_path: Path) -> None:
    async with AsyncMemory(
        path=tmp_path, embedder="hash", scope_cache_mb=0, exact_search_max_rows=5
    ) as memory:
        await memory.add_many([{"text": f"fact {i}", "user_id": "bob"} for i in range(8)])
        hits = await memory.search("fact 3", user_id="bob", limit=2)  # index path: 8 > 5
        assert hits[0].text == "fact 3"
        assert not memory._searcher._cache._entries


async def test_a_cached_scope_ends_when_a_memory_in_it_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is written when a memory expires: the entry must end by itself, or the
    search drops the expired hit and returns one fewer than it could."""
    async with AsyncMemory(path=tmp_path, embedder="hash") as memory:
        await memory.add_many([{"text": f"coffee note {i}", "user_id": "u"} for i in range(15)])
        short = await memory.add(
            "coffee note special", user_id="u", infer=False, ttl=timedelta(seconds=60)
        )
        first = await memory.search("coffee note special", user_id="u", limit=10)
        assert len(first) == 10 and first[0].id == short.results[0].id
        real = _expiry.utc_now
        monkeypatch.setattr(_expiry, "utc_now", lambda: real() + timedelta(seconds=120))
        later = await memory.search("coffee note special", user_id="u", limit=10)
        assert len(later) == 10
        assert short.results[0].id not in {h.id for h in later}

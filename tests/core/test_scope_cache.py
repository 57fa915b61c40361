"""Small scopes' vectors are cached between searches, and never outlive a write: with the
records in SQLite, and in PostgreSQL (vectors in LanceDB, or in pgvector beside them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agentmem_plugins import AsyncMemory, _expiry

from ..conftest import NEEDS_PG, postgres_schema


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres-records", marks=NEEDS_PG),
        pytest.param("postgres", marks=NEEDS_PG),
    ]
)
def config(request, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A store's config: records in SQLite, in PostgreSQL with vectors in LanceDB, or
    everything in PostgreSQL."""
    base: dict[str, Any] = {"path": tmp_path / "store", "embedder": "hash"}
    if request.param == "sqlite":
        yield base
        return
    with postgres_schema() as url:
        everything = request.param == "postgres"
        yield {**base, "sql_url": url, **({"vector_uri": url} if everything else {})}


async def test_cached_scope_sees_every_later_write(config: dict[str, Any]) -> None:
    async with AsyncMemory(**config) as memory:
        ids = await memory.add_many(
            [{"text": f"note {i} about gardening", "user_id": "alice"} for i in range(20)]
        )
        first = await memory.search("tomatoes in the garden", user_id="alice", limit=3)
        read, count = memory._stores.records.vectors, memory._stores.records.count
        memory._stores.records.vectors = lambda *a, **kw: pytest.fail("read again")
        memory._stores.records.count = lambda *a, **kw: pytest.fail("counted again")
        again = await memory.search("tomatoes in the garden", user_id="alice", limit=3)
        assert [h.id for h in first] == [h.id for h in again]
        assert [h.id for h in await memory.search("garden", user_id="alice", limit=3)]
        memory._stores.records.vectors, memory._stores.records.count = read, count
        if "vector_uri" not in config:  # served from memory (all in PostgreSQL: pgvector
            assert memory._searcher._cache._entries  # scores it, no vectors are read)

        # an update through this handle
        await memory.update(ids[0], text="tomatoes in the garden")
        top = await memory.search("tomatoes in the garden", user_id="alice", limit=1)
        assert (top[0].id, top[0].text) == (ids[0], "tomatoes in the garden")

        # a write through another handle on the same store (as another process would)
        async with AsyncMemory(**config) as other:
            (new,) = await other.add_many(
                [{"text": "cucumbers on the balcony", "user_id": "alice"}]
            )
            await other.delete(ids[0])
        hits = await memory.search("cucumbers on the balcony", user_id="alice", limit=20)
        assert hits[0].id == new
        assert ids[0] not in {h.id for h in hits}
        assert await memory.count(user_id="alice") == len(hits)


async def test_cache_off_and_large_verdict(config: dict[str, Any]) -> None:
    async with AsyncMemory(**config, scope_cache_mb=0, exact_search_max_rows=5) as memory:
        await memory.add_many([{"text": f"fact {i}", "user_id": "bob"} for i in range(8)])
        hits = await memory.search("fact 3", user_id="bob", limit=2)  # index path: 8 > 5
        assert hits[0].text == "fact 3"
        assert not memory._searcher._cache._entries


async def test_a_cached_scope_ends_when_a_memory_in_it_expires(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is written when a memory expires: the entry must end by itself, or the
    search drops the expired hit and returns one fewer than it could."""
    async with AsyncMemory(**config) as memory:
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


@pytest.mark.parametrize("deployment", [pytest.param("postgres", marks=NEEDS_PG)])
async def test_postgres_version_moves_with_any_commit_and_survives_a_dropped_connection(
    tmp_path: Path, deployment: str
) -> None:
    import sqlalchemy as sa

    with postgres_schema() as url:
        async with AsyncMemory(path=tmp_path, embedder="hash", sql_url=url) as memory:
            records = memory._stores.records
            await memory.add("a first memory", user_id="u")
            before = records.data_version()
            assert before is not None and before == records.data_version()  # nothing since
            other = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with other.connect() as conn:  # a commit by someone else, in any table
                conn.exec_driver_sql("CREATE TABLE unrelated (n int)")
                conn.exec_driver_sql("INSERT INTO unrelated VALUES (1)")
                assert records.data_version() != before
                # the server drops the version's connection: no version this time (the
                # search reads SQL), then a new connection
                dropped = records._version_conn.driver_connection
                pid = dropped.info.backend_pid
                conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
            other.dispose()
            assert records.data_version() is None
            assert dropped.closed  # in autocommit: closed, never handed back to the pool
            assert records.data_version() is not None
            healthy = records._version_conn.driver_connection
            records._close_version_conn()  # as a failed read gives it up
            assert healthy.closed and not healthy.broken
            assert [h.text for h in await memory.search("first", user_id="u")] == ["a first memory"]

"""Memory expiry (TTL): from the moment a memory expires every read treats it as gone;
maintenance deletes it with an ``EXPIRE`` history event.

Runs on SQLite, and on PostgreSQL too when ``AGENTMEM_TEST_POSTGRES_URL`` is set.
Time is moved forward with the ``clock`` fixture (tests/conftest.py), never slept.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from agentmem_plugins import (
    AsyncMemory,
    ConfigError,
    InvalidInputError,
    Memory,
    NotFoundError,
)
from agentmem_plugins.llms import RuleBasedChatModel
from agentmem_plugins.storage._schema import SCHEMA_VERSION

PG_URL = os.environ.get("AGENTMEM_TEST_POSTGRES_URL")
SHORT = 60  # seconds; the clock fixture jumps past it


def _pg_database() -> tuple[str, sa.Engine, str]:
    assert PG_URL is not None
    name = f"agentmem_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    return name, admin, url


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not PG_URL, reason="set AGENTMEM_TEST_POSTGRES_URL"),
            ],
        ),
    ]
)
def make_memory(request, tmp_path):
    """``make(**config) -> AsyncMemory`` on the parametrised SQL backend."""
    made: list[AsyncMemory] = []
    databases: list[tuple[str, sa.Engine]] = []

    def make(**config) -> AsyncMemory:
        fields = {"path": tmp_path / f"store{len(made)}", "embedder": "hash", **config}
        if request.param == "postgres":
            name, admin, url = _pg_database()
            databases.append((name, admin))
            fields["sql_url"] = url
        memory = AsyncMemory(**fields)
        made.append(memory)
        return memory

    yield make
    for name, admin in databases:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
async def memory(make_memory):
    m = make_memory()
    yield m
    await m.close()


# --- every read treats an expired memory as gone ------------------------------------------


async def test_expired_memory_is_gone_for_every_read(memory: AsyncMemory, clock) -> None:
    short = (await memory.add("door code 4711", user_id="u", ttl=SHORT, infer=False)).results
    keep = (await memory.add("likes green tea", user_id="u", infer=False)).results
    code_id, tea_id = short[0].id, keep[0].id
    item = await memory.get(code_id)
    assert item.expires_at is not None and item.expires_at > datetime.now(timezone.utc)
    assert (await memory.get(tea_id)).expires_at is None
    assert await memory.count(user_id="u") == 2

    clock.advance(SHORT + 1)
    for mode in ("vector", "fulltext", "hybrid"):
        hits = await memory.search("door code", user_id="u", mode=mode)
        assert code_id not in {h.id for h in hits}, mode
    assert [m.id for m in await memory.get_all(user_id="u")] == [tea_id]
    assert await memory.count(user_id="u") == 1
    assert await memory.count(user_id="u", include_invalidated=True) == 1
    assert await memory.count(all_scopes=True) == 1
    with pytest.raises(NotFoundError):
        await memory.get(code_id)
    assert [m.id for m in await memory.get_many([code_id, tea_id])] == [tea_id]
    assert set(await memory.get_vectors([code_id, tea_id])) == {tea_id}
    with pytest.raises(NotFoundError):
        await memory.update(code_id, text="door code 0000")
    with pytest.raises(NotFoundError):
        await memory.update(code_id, ttl=60)
    # the history stays readable (those reads may have started a sweep: EXPIRE)
    assert [e.event for e in await memory.history(code_id)][0] == "ADD"


async def test_the_index_search_path_leaves_expired_memories_out(make_memory, clock) -> None:
    # exact_search_max_rows=0: every search goes through the LanceDB index, and the
    # candidates are checked against SQL
    memory = make_memory(exact_search_max_rows=0)
    try:
        await memory.add_many(
            [{"text": f"short note {i}", "user_id": "u", "ttl": SHORT} for i in range(30)]
        )
        await memory.add_many([{"text": f"kept note {i}", "user_id": "u"} for i in range(5)])
        assert len(await memory.search("short note", user_id="u", limit=40)) == 35
        clock.advance(SHORT + 1)
        hits = await memory.search("short note", user_id="u", limit=10)
        assert sorted(h.text for h in hits) == [f"kept note {i}" for i in range(5)]
        full = await memory.search("note", user_id="u", limit=10, mode="fulltext")
        assert {h.text for h in full} == {f"kept note {i}" for i in range(5)}
    finally:
        await memory.close()


async def test_expiry_with_invalidation_and_as_of(make_memory, clock) -> None:
    memory = make_memory(llm=RuleBasedChatModel())
    try:
        old = (await memory.add("I live in Paris.", user_id="u")).results[0].id
        await memory.add("I live in Berlin.", user_id="u")
        assert (await memory.get(old)).invalid_at is not None
        await memory.update(old, ttl=SHORT)  # an invalidated memory can expire too
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        # as of an hour from now, the Paris memory (expiring in SHORT s) is gone already
        at_later = await memory.search("lives", user_id="u", as_of=later, include_invalidated=True)
        assert old not in {h.id for h in at_later}
        now_all = await memory.search("lives", user_id="u", include_invalidated=True)
        assert old in {h.id for h in now_all}
        clock.advance(SHORT + 1)
        everything = await memory.get_all(user_id="u", include_invalidated=True)
        assert [m.text for m in everything] == ["Lives in Berlin"]
    finally:
        await memory.close()


# --- setting the expiry ----------------------------------------------------------------------


async def test_ttl_expires_at_and_timedelta_set_the_same_moment(memory: AsyncMemory) -> None:
    before = datetime.now(timezone.utc)
    a = (await memory.add("a", user_id="u", ttl=3600, infer=False)).results[0].id
    b = (await memory.add("b", user_id="u", ttl=timedelta(hours=1), infer=False)).results[0].id
    moment = datetime.now(timezone.utc) + timedelta(hours=1)
    c = (await memory.add("c", user_id="u", expires_at=moment, infer=False)).results[0].id
    naive = moment.replace(tzinfo=None)  # naive datetimes are UTC
    d = (await memory.add("d", user_id="u", expires_at=naive, infer=False)).results[0].id
    after = datetime.now(timezone.utc)
    for memory_id in (a, b):
        expires = (await memory.get(memory_id)).expires_at
        assert before + timedelta(hours=1) <= expires <= after + timedelta(hours=1)
    assert abs((await memory.get(c)).expires_at - moment) < timedelta(milliseconds=1)
    assert abs((await memory.get(d)).expires_at - moment) < timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": 0}, "ttl must be positive"),
        ({"ttl": -5}, "ttl must be positive"),
        ({"ttl": timedelta(0)}, "ttl must be positive"),
        ({"ttl": "1h"}, "ttl must be a number of seconds or a datetime.timedelta"),
        ({"ttl": True}, "ttl must be a number of seconds"),
        ({"ttl": float("nan")}, "ttl must be a finite number"),
        ({"expires_at": "tomorrow"}, "expires_at must be a datetime"),
        ({"expires_at": datetime(2001, 1, 1)}, "is not in the future"),
        ({"ttl": 5, "expires_at": datetime(2999, 1, 1)}, "not both"),
    ],
)
async def test_bad_expiry_is_a_clear_error_and_stores_nothing(memory, kwargs, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        await memory.add("x", user_id="u", infer=False, **kwargs)
    with pytest.raises(InvalidInputError, match=message):
        await memory.add_many([{"text": "x", "user_id": "u", **kwargs}])
    assert await memory.count(user_id="u") == 0


async def test_add_many_items_carry_their_own_expiry(memory: AsyncMemory, clock) -> None:
    ids = await memory.add_many(
        [
            {"text": "one", "user_id": "u", "ttl": SHORT},
            {"text": "two", "user_id": "u", "expires_at": datetime(2999, 1, 1)},
            {"text": "three", "user_id": "u"},
        ]
    )
    items = {m.id: m for m in await memory.get_many(ids)}
    assert items[ids[1]].expires_at == datetime(2999, 1, 1, tzinfo=timezone.utc)
    assert items[ids[2]].expires_at is None
    with pytest.raises(InvalidInputError, match=r"items\[1\]\.ttl must be positive"):
        await memory.add_many(
            [{"text": "ok", "user_id": "u"}, {"text": "x", "user_id": "u", "ttl": -1}]
        )
    clock.advance(SHORT + 1)
    assert sorted(m.text for m in await memory.get_all(user_id="u")) == ["three", "two"]


async def test_update_sets_or_keeps_the_expiry(memory: AsyncMemory, clock) -> None:
    memory_id = (await memory.add("plan", user_id="u", infer=False)).results[0].id
    rev = memory._stores.records.revisions()[memory_id]
    item = await memory.update(memory_id, ttl=timedelta(minutes=5))
    assert item.expires_at is not None and item.text == "plan"
    # an expiry-only change is SQL-only: the vector side is not rewritten
    assert memory._stores.records.revisions()[memory_id] == rev
    assert memory._stores.vectors.revisions()[memory_id] == rev
    assert [e.event for e in await memory.history(memory_id)] == ["ADD"]
    kept = await memory.update(memory_id, text="new plan")
    assert kept.expires_at == item.expires_at and kept.text == "new plan"
    moved = await memory.update(memory_id, expires_at=datetime(2999, 1, 1))
    assert moved.expires_at == datetime(2999, 1, 1, tzinfo=timezone.utc)
    await memory.update(memory_id, ttl=SHORT)
    clock.advance(SHORT + 1)
    with pytest.raises(NotFoundError):
        await memory.get(memory_id)
    with pytest.raises(InvalidInputError, match="update needs"):
        await memory.update("whatever")
    with pytest.raises(NotFoundError):
        await memory.update("missing", ttl=5)


async def test_default_ttl_applies_unless_the_call_says_otherwise(make_memory, clock) -> None:
    memory = make_memory(default_ttl=SHORT)
    try:
        a = (await memory.add("default", user_id="u", infer=False)).results[0].id
        b = (await memory.add("longer", user_id="u", ttl=3600, infer=False)).results[0].id
        [c] = await memory.add_many([{"text": "batch default", "user_id": "u"}])
        items = await memory.get_many([a, b, c])
        assert len(items) == 3 and all(m.expires_at is not None for m in items)
        clock.advance(SHORT + 1)
        assert [m.id for m in await memory.get_all(user_id="u")] == [b]
    finally:
        await memory.close()
    with pytest.raises(ConfigError, match="default_ttl must be positive"):
        AsyncMemory(path="/nonexistent-never-made", embedder="hash", default_ttl=-1)


# --- the sweep ---------------------------------------------------------------------------------


async def test_sweep_deletes_expired_memories_with_an_expire_event(
    memory: AsyncMemory, clock
) -> None:
    gone = (await memory.add("temporary", user_id="u", ttl=SHORT, infer=False)).results[0].id
    kept = (await memory.add("lasting", user_id="u", ttl=3600, infer=False)).results[0].id
    assert await memory.sweep_expired() == 0
    clock.advance(SHORT + 1)
    assert await memory.sweep_expired() == 1
    assert [e.event for e in await memory.history(gone)] == ["ADD", "EXPIRE"]
    assert gone not in memory._stores.records.revisions()
    assert gone not in memory._stores.vectors.revisions()  # both sides
    assert set(memory._stores.records.revisions()) == {kept}
    assert await memory.sweep_expired() == 0


async def test_maintenance_sweeps_expired_memories(make_memory, clock) -> None:
    memory = make_memory(compact_every_writes=1)
    try:
        gone = (await memory.add("temporary", user_id="u", ttl=SHORT, infer=False)).results[0].id
        # the first add's maintenance run first: one runs at a time, so a run still going
        # when the clock moves would make the trigger below a no-op (seen on a busy machine)
        await memory._writer.upkeep.wait()
        clock.advance(SHORT + 1)
        await memory.add("trigger maintenance", user_id="u", infer=False)
        await memory._writer.upkeep.wait()
        await memory.flush()
        assert gone not in memory._stores.records.revisions()
        assert [e.event for e in await memory.history(gone)] == ["ADD", "EXPIRE"]
    finally:
        await memory.close()


async def test_a_read_that_finds_expired_rows_starts_a_sweep(memory, clock) -> None:
    gone = (await memory.add("temporary", user_id="u", ttl=SHORT, infer=False)).results[0].id
    assert await memory.count(user_id="u") == 1
    clock.advance(SHORT + 1)
    assert await memory.count(user_id="u") == 0  # the read asks for a sweep
    for _ in range(200):
        if gone not in memory._stores.records.revisions():
            break
        await asyncio.sleep(0.05)
    assert [e.event for e in await memory.history(gone)] == ["ADD", "EXPIRE"]
    assert memory._stores.records.expiry_cutoff() is None  # reads are back on the cheap path


async def test_a_refreshed_memory_survives_a_sweep_that_read_it_as_expired(memory, clock) -> None:
    memory_id = (await memory.add("refresh me", user_id="u", ttl=SHORT, infer=False)).results[0].id
    clock.advance(SHORT + 1)
    stale = memory._stores.records.expired_ids()
    assert stale == [memory_id]
    # re-added under the same id (an upsert) after the sweep read it
    await memory.add_many([{"id": memory_id, "text": "refresh me", "user_id": "u", "ttl": 3600}])
    from agentmem_plugins._writer import WriteRequest

    assert await memory._writer.submit(WriteRequest(expirations=stale)) == []
    assert (await memory.get(memory_id)).text == "refresh me"


async def test_delete_all_also_removes_expired_rows_not_yet_swept(memory, clock) -> None:
    await memory.add("expired", user_id="u", ttl=SHORT, infer=False)
    await memory.add("current", user_id="u", infer=False)
    await memory.add("other scope", user_id="v", ttl=SHORT, infer=False)
    clock.advance(SHORT + 1)
    assert await memory.delete_all(user_id="u") == 2
    assert len(memory._stores.records.revisions()) == 1  # only the other scope's row
    assert await memory.count(user_id="u", include_invalidated=True) == 0


# --- intelligent mode, sync facade, old stores ----------------------------------------------------


async def test_intelligent_mode_sets_the_expiry_on_what_it_writes(make_memory, clock) -> None:
    memory = make_memory(llm=RuleBasedChatModel())
    try:
        result = await memory.add("I live in Paris.", user_id="u", ttl=SHORT)
        [event] = result.results
        assert event.event == "ADD"
        assert (await memory.get(event.id)).expires_at is not None
        with pytest.raises(InvalidInputError, match="wait=True"):
            await memory.add("I like tea.", user_id="u", ttl=5, wait=False)
        clock.advance(SHORT + 1)
        assert await memory.count(user_id="u") == 0
    finally:
        await memory.close()


def test_sync_facade_takes_the_same_arguments(tmp_path, clock) -> None:
    with Memory(path=tmp_path, embedder="hash") as memory:
        memory_id = memory.add("sync", user_id="u", ttl=SHORT, infer=False).results[0].id
        assert memory.get(memory_id).expires_at is not None
        clock.advance(SHORT + 1)
        assert memory.count(user_id="u") == 0
        memory.sweep_expired()  # (the count above may have started a sweep already)
        assert [e.event for e in memory.history(memory_id)] == ["ADD", "EXPIRE"]


def test_a_store_from_before_expiry_gains_the_column_on_open(tmp_path) -> None:
    with Memory(path=tmp_path, embedder="hash") as memory:
        old_id = memory.add("from the old days", user_id="u", infer=False).results[0].id
    # make it look like the previous version's schema (2): no expires_at column, no index
    db = sqlite3.connect(tmp_path / "memories.db")
    db.execute("DROP INDEX ix_memories_expires_at")
    db.execute("ALTER TABLE memories DROP COLUMN expires_at")
    db.execute("UPDATE store_meta SET value = '2' WHERE key = 'schema_version'")
    db.commit()
    assert "expires_at" not in {r[1] for r in db.execute("PRAGMA table_info(memories)")}
    db.close()
    with Memory(path=tmp_path, embedder="hash") as memory:
        assert memory.get(old_id).expires_at is None
        new_id = memory.add("new", user_id="u", ttl=SHORT, infer=False).results[0].id
        assert memory.get(new_id).expires_at is not None
    db = sqlite3.connect(tmp_path / "memories.db")
    indexes = {r[1] for r in db.execute("PRAGMA index_list(memories)")}
    version = db.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
    db.close()
    assert "ix_memories_expires_at" in indexes
    assert version == (str(SCHEMA_VERSION),)

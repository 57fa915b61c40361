"""Issue 8, each repair case on its own: sessions, write intents, check/repair, the
maintenance lease, and the vector_uri / storage_options configuration."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from agentmem_plugins import AsyncMemory, ConfigError, Memory, MemoryConfig
from agentmem_plugins.cli import main as cli
from agentmem_plugins.storage import VectorIndex
from agentmem_plugins.storage._tables import IntentRow, SessionRow

from .test_crash import run_until_killed
from .test_multiprocess import s3_store  # noqa: F401,F811  (a fixture)


def dupes(memory: AsyncMemory) -> list[str]:
    ids = [i for i, _ in memory._stores.vectors.id_revs()]
    return sorted({i for i in ids if ids.count(i) > 1})


def intents(memory: AsyncMemory) -> list[str]:
    """Sessions of the open intents, except the blocks of ids ``memory`` has reserved."""
    held = memory._stores.reservations.held()
    return [i.session_id for i in memory._stores.journal.intents() if i.id not in held]


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after_sql", "after_vectors"])
async def test_crash_around_the_vector_commit_is_repaired_from_the_intent(
    tmp_path: Path, point: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Between the SQL and the vector commit (rows missing), and after the vector commit
    (the intent still open): the reopen rewrites the dead session's ids only."""
    store = tmp_path / "store"
    acked = run_until_killed(store, point, 6)
    caplog.set_level(logging.WARNING, "agentmem_plugins")
    async with AsyncMemory(path=store, embedder="hash", exact_search_max_rows=0) as memory:
        assert "repaired 1 unfinished writes of crashed processes" in caplog.text
        assert intents(memory) == [] and len(memory._stores.journal.sessions()) == 1
        assert (await memory.check()).ok and dupes(memory) == []
        stores = memory._stores
        assert stores.vectors.revisions() == stores.records.revisions()
        for memory_id, text in list(acked.items())[-5:]:
            user = (await memory.get(memory_id)).user_id
            assert memory_id in [h.id for h in await memory.search(text, user_id=user)]


async def test_a_commit_repeated_after_an_error_leaves_one_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vector append commits, then reports an error (a lost reply from object
    storage): the write stands, and the rewrite keyed on id leaves one copy."""
    original = VectorIndex.add
    failures = {"n": 0}

    def add_then_fail(self: VectorIndex, rows, vectors) -> None:
        original(self, rows, vectors)
        if failures["n"] == 0:
            failures["n"] += 1
            raise OSError("connection reset after the commit")

    monkeypatch.setattr(VectorIndex, "add", add_then_fail)
    async with AsyncMemory(path=tmp_path, embedder="hash") as memory:
        ids = await memory.add_many({"text": f"fact {i}", "user_id": "u"} for i in range(20))
        assert failures["n"] == 1 and len(await memory.get_many(ids)) == 20
        assert intents(memory) == [memory._stores.session]  # left for maintenance
        assert memory._stores.recover() == 20
        assert dupes(memory) == [] and (await memory.check()).ok and intents(memory) == []


async def test_a_conflicting_commit_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash") as memory:
        await memory.add("first", user_id="u")
        table = memory._stores.vectors._handle()
        original = type(table).add
        calls = {"n": 0}

        def conflict_once(self, data, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("Retryable commit conflict for version 7: preempted")
            return original(self, data, *args, **kwargs)

        monkeypatch.setattr(type(table), "add", conflict_once)
        await memory.add("second", user_id="u")
        assert calls["n"] == 2 and memory._stores.vectors.count() == 2
        assert (await memory.check()).ok and dupes(memory) == []


async def test_rows_a_live_process_is_writing_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second open (its own session) neither repairs nor reports rows that a live one
    has committed to SQL but not yet to the vector side; they count as in flight."""
    writer = AsyncMemory(path=tmp_path, embedder="hash")
    await writer.add("warm up", user_id="u")
    entered, release = threading.Event(), threading.Event()
    original = VectorIndex.apply

    def slow_apply(self: VectorIndex, changes) -> None:
        entered.set()
        release.wait(30)
        original(self, changes)

    monkeypatch.setattr(VectorIndex, "apply", slow_apply)
    pending = asyncio.create_task(
        writer.add_many({"text": f"x{i}", "user_id": "u"} for i in range(5))
    )
    await asyncio.to_thread(entered.wait, 30)
    monkeypatch.setattr(VectorIndex, "apply", original)
    async with AsyncMemory(path=tmp_path, embedder="hash") as other:
        report = await other.check(repair=True)
        assert report.ok and report.in_flight == 5 and not report.repaired
        release.set()
        await pending
        assert (await other.check()).ok and dupes(other) == []
    await writer.close()
    assert not intents(other)


async def test_crashed_sessions_are_found_by_pid_or_stale_heartbeat(tmp_path: Path) -> None:
    config = MemoryConfig(path=tmp_path, embedder="hash", session_stale_after_s=30)
    async with AsyncMemory(config) as memory:
        ids = await memory.add_many({"text": f"fact {i}", "user_id": "u"} for i in range(6))
        stores = memory._stores
        engine = sa.create_engine(config.resolved_sql_url)
        old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=5)
        sessions = [
            # a pid that no process has on this host (beyond pid_max)
            {"id": "gone-pid", "host": os.uname().nodename, "pid": 2**22 + 7},
            {"id": "silent", "host": "another-machine", "pid": os.getpid()},
            {"id": "alive", "host": "another-machine", "pid": 1},
        ]
        with engine.begin() as conn:
            for n, s in enumerate(sessions):
                beat = (
                    old if s["id"] != "alive" else datetime.now(timezone.utc).replace(tzinfo=None)
                )
                conn.execute(
                    SessionRow.__table__.insert(),
                    [{**s, "started_at": old, "heartbeat_at": beat}],
                )
                conn.execute(
                    IntentRow.__table__.insert(),
                    [
                        {
                            "id": f"i{n}",
                            "session_id": s["id"],
                            "ids": ids[2 * n : 2 * n + 2],
                            "created_at": old,
                        }
                    ],
                )
        stores.vectors.delete(ids)  # as if all three died before their vector commits
        assert stores.recover() == 4  # the two dead sessions' ids; the live one's are its own
        left = {s["id"] for s in stores.journal.sessions()}
        assert left == {"alive", stores.session}
        report = await memory.check()
        assert report.in_flight == 2 and report.ok
        assert sorted(i for i, _ in stores.vectors.id_revs()) == sorted(ids[:4])
        engine.dispose()


async def test_maintenance_runs_in_one_process_at_a_time(tmp_path: Path) -> None:
    async with (
        AsyncMemory(path=tmp_path, embedder="hash") as a,
        AsyncMemory(path=tmp_path, embedder="hash") as b,
    ):
        ja, jb = a._stores.journal, b._stores.journal
        sa_, sb = a._stores.session, b._stores.session
        assert ja.acquire("maintenance", sa_, timedelta(seconds=60))
        assert ja.acquire("maintenance", sa_, timedelta(seconds=60))  # extends its own
        assert not jb.acquire("maintenance", sb, timedelta(seconds=60))
        ran = []
        b._stores.vectors.maintain = lambda: ran.append("b")  # type: ignore[method-assign]
        b._stores.maintain()
        assert ran == []  # skipped: a holds the lease
        ja.release("maintenance", sa_)
        b._stores.maintain()
        assert ran == ["b"]
        assert ja.acquire("maintenance", sa_, timedelta(seconds=-1))  # expired at once
        assert jb.acquire("maintenance", sb, timedelta(seconds=60))


def test_check_reports_and_repairs_every_kind_of_difference(tmp_path: Path, capsys) -> None:
    with Memory(path=tmp_path, embedder="hash") as memory:
        ids = memory.add_many([{"text": f"fact {i}", "user_id": "u"} for i in range(10)])
        stores = memory.async_memory._stores
        rows = [r for i in ids[:4] for r in stores.records.full_rows([i])]
        stores.vectors.delete(ids[:1])  # missing
        stores.vectors.add([dict(rows[1])], None)  # duplicate
        stores.vectors.upsert([dict(rows[2], rev="old")], None)  # stale
        stores.vectors.add([dict(rows[3], id="ghost")], None)  # extra
        report = memory.check()
        assert (report.missing, report.duplicate, report.stale, report.extra) == (
            [ids[0]],
            [ids[1]],
            [ids[2]],
            ["ghost"],
        )
    args = ["--path", str(tmp_path), "--embedder", "hash", "check"]
    assert cli(args) == 4
    assert "INCONSISTENT" in capsys.readouterr().out
    assert cli([*args, "--repair"]) == 1
    assert cli(args) == 0
    assert "clean: 10 rows in SQL, 10 in the vector index" in capsys.readouterr().out
    # the store options also go after the command, as the README writes them
    assert cli(["check", "--path", str(tmp_path), "--embedder", "hash"]) == 0
    elsewhere = ["--path", str(tmp_path / "elsewhere"), "--embedder", "hash"]
    assert cli([*elsewhere, "check", "--path", str(tmp_path)]) == 0  # the later one wins
    assert "clean: 10 rows in SQL" in capsys.readouterr().out


def test_vector_uri_schemes_and_storage_options(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"'mysql\+pymysql' is not served by LanceDB.*s3://"):
        AsyncMemory(path=tmp_path / "m", embedder="hash", vector_uri="mysql+pymysql://u@h/db")
    # a PostgreSQL URL selects pgvector (issue 9): unreachable is a clear error, not a folder
    with pytest.raises(ConfigError, match="cannot connect to the database"):
        AsyncMemory(path=tmp_path / "m", embedder="hash", vector_uri="postgresql+psycopg://u@h/db")
    assert not any(p.name.startswith(("postgresql", "mysql")) for p in tmp_path.iterdir())
    with pytest.raises(ConfigError, match="gs://bucket/prefix"):
        MemoryConfig.build(vector_uri="gs:bucket")
    monkeypatch.setenv("AGENTMEM_VECTOR_URI", "s3://bucket/prefix")
    assert MemoryConfig().vector_uri == "s3://bucket/prefix"
    monkeypatch.setenv("AGENTMEM_VECTOR_URI", "ftp://x/y")
    with pytest.raises(ConfigError, match="'ftp'"):
        MemoryConfig.build()
    monkeypatch.delenv("AGENTMEM_VECTOR_URI")
    with pytest.raises(ConfigError, match="twice session_heartbeat_s"):
        MemoryConfig.build(session_heartbeat_s=10, session_stale_after_s=15)


async def test_vectors_on_s3_with_storage_options(tmp_path: Path, s3_store) -> None:  # noqa: F811
    """LanceDB on a loopback S3 server, credentials and endpoint from storage_options only."""
    config = {"vector_uri": s3_store["uri"], "storage_options": s3_store["options"]}
    async with AsyncMemory(path=tmp_path, embedder="hash", exact_search_max_rows=0, **config) as m:
        ids = await m.add_many({"text": f"fact {i}", "user_id": "u"} for i in range(30))
        await m.update(ids[0], text="changed fact")
        await m.delete(ids[1])
        assert [h.id for h in await m.search("changed fact", user_id="u", limit=1)] == [ids[0]]
        assert (await m.check()).ok
    assert not (tmp_path / "lancedb").exists()
    async with AsyncMemory(path=tmp_path, embedder="hash", **config) as m:
        assert m._stores.vectors.count() == 29

"""DESIGN invariant 7: many processes, one store, with kill -9 in the middle.

Two writer processes (single adds 8 at a time, ``add_many``, updates, deletes) share one
store while a third opens, searches and closes it in a loop. One writer is killed with
SIGKILL after a seeded number of acknowledgements, twice (a new process each time). A
fresh process then checks that every acknowledged write is present in SQL and found by
vector and full-text search in a scope larger than ``exact_search_max_rows`` (so through
LanceDB), that ``check()`` is clean and that no id is held twice.

(a) one local folder; (b) records in PostgreSQL and vectors on a loopback S3 server
(moto); (c) everything in PostgreSQL (records and pgvector, one transaction per batch);
(b) and (c) run when ``AGENTMEM_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agentmem_plugins import AsyncMemory

CHILD = Path(__file__).with_name("_mp_child.py")
PG_URL = os.environ.get("AGENTMEM_TEST_POSTGRES_URL")
SEED = 8
EXACT_MAX = 16  # searches in the checking process go through LanceDB above this

pytestmark = pytest.mark.slow


@dataclass
class Ledger:
    """What the parent saw acknowledged: id -> text (``None``: deleted)."""

    state: dict[str, str | None] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)  # TRY without ACK: either outcome
    lock: threading.Lock = field(default_factory=threading.Lock)

    def follow(self, proc: subprocess.Popen[str], kill_after: int | None) -> int:
        acks = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            with self.lock:
                if kind == "TRY":
                    self.in_flight.add(rest)
                elif kind == "ACK":
                    op, memory_id, text = rest.split(" ", 2)
                    self.state[memory_id] = None if op == "delete" else text
                    self.in_flight.discard(memory_id)
                    acks += 1
            if kill_after is not None and acks == kill_after:
                # keep reading after the kill: what it printed before dying was acknowledged
                os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=120)
        return proc.returncode


def spawn(
    config: dict[str, Any], role: str, name: str, seed: int, steps: int, go: Path | None = None
) -> Any:
    args = [json.dumps(config), role, name, str(seed), str(steps), *([str(go)] if go else [])]
    errors = Path(config["path"]).parent / f"{Path(name).name}.stderr"
    with errors.open("w") as sink:  # read back when a child fails
        return subprocess.Popen(
            [sys.executable, str(CHILD), *args], stdout=subprocess.PIPE, stderr=sink, text=True
        )


def stderr_of(config: dict[str, Any]) -> str:
    logs = sorted(Path(config["path"]).parent.glob("*.stderr"))
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs)


async def run_and_verify(config: dict[str, Any], tmp_path: Path) -> None:
    rng = random.Random(SEED)
    ledger = Ledger()
    stop = tmp_path / "stop-opener"
    opener = spawn(config, "opener", str(stop), 0, 0)
    codes: dict[str, int] = {}

    def steady() -> None:
        codes["b"] = ledger.follow(spawn(config, "writer", "wb", SEED + 1, 10), None)

    def killed() -> None:
        # a fresh process each time, killed mid-stream; each one starts while the previous
        # one runs and begins writing when it is killed
        go = [tmp_path / f"go{gen}" for gen in range(2)]
        procs = [spawn(config, "writer", f"wa{g}", SEED + 10 + g, 10_000, go[g]) for g in range(2)]
        for gen, proc in enumerate(procs):
            go[gen].touch()
            codes[f"a{gen}"] = ledger.follow(proc, kill_after=rng.randrange(20, 60))

    threads = [threading.Thread(target=steady), threading.Thread(target=killed)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    stop.touch()
    assert opener.wait(timeout=120) == 0, stderr_of(config)
    assert codes == {"b": 0, "a0": -signal.SIGKILL, "a1": -signal.SIGKILL}, stderr_of(config)

    present = {i: t for i, t in ledger.state.items() if t is not None and i not in ledger.in_flight}
    deleted = [i for i, t in ledger.state.items() if t is None and i not in ledger.in_flight]
    assert len(present) > 4 * EXACT_MAX and deleted

    async with AsyncMemory(**config, exact_search_max_rows=EXACT_MAX) as memory:
        report = await memory.check()
        assert report.ok and report.in_flight == 0, report.summary()
        ids = [i for i, _ in memory._stores.vectors.id_revs()]
        assert not [i for i, n in Counter(ids).items() if n > 1]
        # every acknowledged write is there, every acknowledged delete gone
        items = {m.id: m for m in await memory.get_many(list(present))}
        lost = sorted(set(present) - set(items))
        changed = sorted(i for i, m in items.items() if m.text != present[i])
        assert not lost and not changed, (lost, [(items[i].text, present[i]) for i in changed])
        assert await memory.get_many(deleted) == []

        async def found(memory_id: str, text: str) -> None:
            user = items[memory_id].user_id
            hits = await memory.search(text, user_id=user, limit=3)
            assert memory_id in [h.id for h in hits], text
            token = text.split()[4]  # unique to this memory
            hits = await memory.search(token, user_id=user, mode="fulltext", limit=3)
            assert memory_id in [h.id for h in hits], token

        ordered = sorted(present.items())
        for start in range(0, len(ordered), 8):
            await asyncio.gather(*(found(i, t) for i, t in ordered[start : start + 8]))
        assert await memory.count(user_id="user0") > EXACT_MAX


async def test_local_folder_many_processes_and_kill9(tmp_path: Path) -> None:
    config = {"path": str(tmp_path / "store"), "embedder": "hash"}
    await run_and_verify(config, tmp_path)


@pytest.fixture
def s3_store():
    """A loopback S3 server (moto) and a new bucket: yields the ``uri`` of a store in it
    and the LanceDB ``options`` to reach it."""
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        _, port = server.get_host_and_port()
        endpoint = f"http://127.0.0.1:{port}"
        creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        # moto keeps its buckets in process-wide state, across server restarts: a bucket of
        # its own per test, or the next test would open the previous test's vectors
        bucket = f"agentmem-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **creds).create_bucket(
            Bucket=bucket
        )
        yield {
            "uri": f"s3://{bucket}/store",
            "options": {
                **creds,
                "aws_endpoint": endpoint,
                "allow_http": "true",
                "region": "us-east-1",
            },
        }
    finally:
        server.stop()


@pytest.fixture
def pg_url():
    if not PG_URL:
        pytest.skip("set AGENTMEM_TEST_POSTGRES_URL (CI starts a server)")
    name = f"agentmem_mp_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def pg_s3(tmp_path: Path, pg_url, s3_store) -> dict[str, Any]:
    """A store config: records in a new PostgreSQL database, vectors in a new S3 bucket."""
    return {
        "path": str(tmp_path / "unused"),
        "embedder": "hash",
        "sql_url": pg_url,
        "vector_uri": s3_store["uri"],
        "storage_options": s3_store["options"],
    }


@pytest.mark.postgres
async def test_postgres_and_s3_many_processes_and_kill9(tmp_path: Path, pg_s3) -> None:
    await run_and_verify(pg_s3, tmp_path)


@pytest.fixture
def pg_all(tmp_path: Path, pg_url) -> dict[str, Any]:
    """A store config: everything in a new PostgreSQL database."""
    return {
        "path": str(tmp_path / "unused"),
        "embedder": "hash",
        "sql_url": pg_url,
        "vector_uri": pg_url,
    }


@pytest.mark.postgres
async def test_everything_in_postgres_many_processes_and_kill9(tmp_path: Path, pg_all) -> None:
    await run_and_verify(pg_all, tmp_path)


def open_at_once(config: dict[str, Any], tmp_path: Path, n: int = 4) -> None:
    """``n`` processes open one new store at the same moment and write to it: each creates
    the schema, records the embedder and creates the vector table, or finds them made."""
    go = tmp_path / "go-together"
    procs = [spawn(config, "writer", f"w{k}", SEED + k, 3, go) for k in range(n)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "READY\n", stderr_of(config)
    go.touch()
    ledger = Ledger()
    assert [ledger.follow(proc, None) for proc in procs] == [0] * n, stderr_of(config)
    assert ledger.state


async def verify_opened_at_once(config: dict[str, Any], tmp_path: Path) -> None:
    open_at_once(config, tmp_path)
    async with AsyncMemory(**config) as memory:
        report = await memory.check()
        assert report.ok and report.in_flight == 0, report.summary()


async def test_local_folder_opened_by_many_processes_at_once(tmp_path: Path) -> None:
    await verify_opened_at_once({"path": str(tmp_path / "store"), "embedder": "hash"}, tmp_path)


@pytest.mark.postgres
async def test_postgres_and_s3_opened_by_many_processes_at_once(tmp_path: Path, pg_s3) -> None:
    await verify_opened_at_once(pg_s3, tmp_path)


@pytest.mark.postgres
async def test_everything_in_postgres_opened_by_many_processes_at_once(
    tmp_path: Path, pg_all
) -> None:
    await verify_opened_at_once(pg_all, tmp_path)


def test_the_switch_to_wal_is_retried_while_the_database_is_locked() -> None:
    """SQLite answers a contended switch to WAL with "database is locked" at once,
    without its busy handler (four processes opening one new store at the same moment
    hit it); the switch is retried, and any other error still raises."""
    import sqlite3

    from agentmem_plugins.storage._records import _journal_mode_wal

    class Cursor:
        def __init__(self, errors: list[str]) -> None:
            self.errors, self.calls = errors, 0

        def execute(self, sql: str) -> None:
            assert sql == "PRAGMA journal_mode=WAL"
            self.calls += 1
            if self.errors:
                raise sqlite3.OperationalError(self.errors.pop(0))

    locked = Cursor(["database is locked", "database is locked"])
    _journal_mode_wal(locked)
    assert locked.calls == 3
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        _journal_mode_wal(Cursor(["disk I/O error"]))
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _journal_mode_wal(Cursor(["database is locked"] * 1000), wait_s=0.05)

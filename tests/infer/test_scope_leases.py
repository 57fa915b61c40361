"""Intelligent mode across processes: one scope is reconciled by one process at a time.

Each open of a store is a session of its own, so two handles in one test stand for two
processes (the leases are rows in SQL, the same for both); the last test runs two real
worker processes.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from agentmem_plugins import AsyncMemory, Memory
from agentmem_plugins.infer import _scope_leases
from agentmem_plugins.llms import RuleBasedChatModel

JAN = datetime(2024, 1, 5, tzinfo=timezone.utc)
JUN = datetime(2024, 6, 5, tzinfo=timezone.utc)


def said(text: str, when: datetime) -> list[dict[str, object]]:
    return [{"role": "user", "content": text, "observed_at": when}]


def lease_rows(memory: AsyncMemory) -> list[tuple[str, str]]:
    engine = memory._stores.records._write  # the store's own SQL, whichever backend
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, holder FROM store_leases"))
        return [(n, h) for n, h in rows if n.startswith("scope:")]


async def test_two_processes_adding_for_one_user_keep_time_straight(tmp_path, backend) -> None:
    llms = [RuleBasedChatModel(latency_s=0.2), RuleBasedChatModel(latency_s=0.2)]
    async with (
        AsyncMemory(path=tmp_path, embedder="hash", llm=llms[0], **backend) as a,
        AsyncMemory(path=tmp_path, embedder="hash", llm=llms[1], **backend) as b,
    ):
        await asyncio.gather(
            a.add(said("I live in Berlin.", JAN), user_id="u"),
            b.add(said("I live in Lisbon.", JUN), user_id="u"),
        )
        assert [m.text for m in await a.get_all(user_id="u")] == ["Lives in Lisbon"]
        everything = await a.get_all(user_id="u", include_invalidated=True)
        [berlin] = [m for m in everything if m.text == "Lives in Berlin"]
        assert berlin.invalid_at == JUN
        # other users are not held up by u's lease
        await asyncio.gather(
            a.add(said("I live in Oslo.", JAN), user_id="v"),
            b.add(said("I live in Rome.", JAN), user_id="w"),
        )
    async with AsyncMemory(path=tmp_path, embedder="hash", **backend) as after:
        assert lease_rows(after) == []  # both gave theirs up on close


async def test_an_idle_scope_gives_its_lease_up(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(_scope_leases, "IDLE_RELEASE_S", 0.05)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=RuleBasedChatModel()) as memory:
        await memory.add("I live in Kyoto.", user_id="u")
        assert [h for _, h in lease_rows(memory)] == [memory._stores.session]
        for _ in range(100):
            if not lease_rows(memory):
                break
            await asyncio.sleep(0.02)
        assert lease_rows(memory) == []


async def test_a_crashed_holders_lease_is_taken_at_once(tmp_path, backend) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash", **backend) as memory:
        stores = memory._stores
        ttl = timedelta(seconds=60)
        journal, stale = stores.journal, timedelta(seconds=60)
        # a holder with no live session (it crashed, and recovery removed its row)
        assert journal.take_leases(["scope:x"], "f" * 32, ttl, stale) == {"scope:x"}
        assert stores.take_leases(["scope:x", "scope:y"], ttl) == {"scope:x", "scope:y"}
        # a live session's lease is not taken
        async with AsyncMemory(path=tmp_path, embedder="hash", **backend) as other:
            assert other._stores.take_leases(["scope:x", "scope:z"], ttl) == {"scope:z"}
            stores.drop_leases(["scope:x"])
            assert other._stores.take_leases(["scope:x"], ttl) == {"scope:x"}


CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from datetime import datetime, timezone
    from agentmem_plugins import AsyncMemory, Memory
    from agentmem_plugins.llms import RuleBasedChatModel

    async def main(path, city, month, start):
        when = datetime(2024, int(month), 5, tzinfo=timezone.utc)
        llm = RuleBasedChatModel(latency_s=0.1)
        async with AsyncMemory(path=path, embedder="hash", llm=llm) as memory:
            await asyncio.sleep(max(0.0, float(start) - time.time()))
            await asyncio.gather(*(
                memory.add([{"role": "user", "content": f"I live in {city}{u}.",
                             "observed_at": when}], user_id=f"u{u}")
                for u in range(10)
            ))

    asyncio.run(main(*sys.argv[1:]))
    """
)


def test_two_worker_processes_keep_time_straight(tmp_path) -> None:
    start = time.time() + 6  # both have opened the store by then, and add at once
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), city, month, str(start)])
        for city, month in (("Berlin", "1"), ("Lisbon", "6"))
    ]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    with Memory(path=tmp_path, embedder="hash") as memory:
        for u in range(10):
            assert [m.text for m in memory.get_all(user_id=f"u{u}")] == [f"Lives in Lisbon{u}"]

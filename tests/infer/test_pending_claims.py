"""Pending work shared by several processes: a replay takes only what no live session holds.

Each open of a store is a session of its own, so two handles in one test stand for two
processes; the crash case runs a real child process and kills it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from agentmem_plugins import AsyncMemory, LLMRequestError, Memory
from agentmem_plugins.llms import RuleBasedChatModel, ScriptedChatModel
from agentmem_plugins.storage._schema import SCHEMA_VERSION


async def _until_called(llm: RuleBasedChatModel) -> None:
    while llm.call_count == 0:
        await asyncio.sleep(0.01)


async def test_a_replay_elsewhere_leaves_a_hand_over_in_flight_alone(tmp_path, backend) -> None:
    slow = RuleBasedChatModel(latency_s=0.5)
    other_llm = RuleBasedChatModel()
    async with (
        AsyncMemory(path=tmp_path, embedder="hash", llm=slow, **backend) as worker,
        AsyncMemory(path=tmp_path, embedder="hash", llm=other_llm, **backend) as other,
    ):
        await worker.add("I live in Kyoto.", user_id="u", wait=False)
        await _until_called(slow)
        assert len(await other.pending()) == 1  # every process sees it...
        assert await other.retry_pending() == []  # ...but it is the worker's to process
        await worker.flush()
        assert (slow.call_count, other_llm.call_count) == (1, 0)
        assert [m.text for m in await other.get_all(user_id="u")] == ["Lives in Kyoto"]
        assert await other.pending() == []


async def test_two_replays_at_once_take_each_item_once(tmp_path, backend) -> None:
    script = ScriptedChatModel([LLMRequestError("401 bad key")] * 3)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=script, **backend) as memory:
        for city in ("Oslo", "Lima", "Rome"):  # a 4xx parks at once
            await memory.add(f"I live in {city}.", user_id=city)
    llms = [RuleBasedChatModel(latency_s=0.05), RuleBasedChatModel(latency_s=0.05)]
    async with (
        AsyncMemory(path=tmp_path, embedder="hash", llm=llms[0], **backend) as a,
        AsyncMemory(path=tmp_path, embedder="hash", llm=llms[1], **backend) as b,
    ):
        done = await asyncio.gather(a.retry_pending(), b.retry_pending())
        assert sorted(len(results) for results in done) in ([0, 3], [1, 2])
        assert sum(llm.call_count for llm in llms) == 3
        for city in ("Oslo", "Lima", "Rome"):
            assert [m.text for m in await a.get_all(user_id=city)] == [f"Lives in {city}"]
        assert await a.pending() == []


async def test_a_replay_that_fails_again_is_free_for_any_process(tmp_path) -> None:
    failing = ScriptedChatModel([LLMRequestError("401 bad key")] * 2)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=failing) as memory:
        await memory.add("I live in Oslo.", user_id="u")
        assert await memory.retry_pending() != []  # claimed, failed, parked again
        [work] = await memory.pending()
        assert work.attempts == 2
    db = sqlite3.connect(tmp_path / "memories.db")
    assert db.execute("SELECT session_id FROM pending_work").fetchall() == [(None,)]
    db.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from agentmem_plugins import AsyncMemory
    from agentmem_plugins.llms import RuleBasedChatModel

    async def main():
        memory = AsyncMemory(path=sys.argv[1], embedder="hash",
                             llm=RuleBasedChatModel(latency_s=600))
        await memory.add("I live in Kyoto.", user_id="u", wait=False)
        print("handed over", flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


def test_hand_overs_of_a_killed_process_are_replayed(tmp_path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "handed over"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    llm = RuleBasedChatModel()
    with Memory(path=tmp_path, embedder="hash", llm=llm) as memory:
        [replayed] = memory.retry_pending()  # the child's session is dead: its pid is gone
        assert [e.text for e in replayed.results] == ["Lives in Kyoto"]
        assert memory.pending() == []


def test_a_store_from_before_claims_gains_the_column_on_open(tmp_path) -> None:
    script = ScriptedChatModel([LLMRequestError("401 bad key")])
    with Memory(path=tmp_path, embedder="hash", llm=script) as memory:
        memory.add("I live in Oslo.", user_id="u")
    # make it look like the previous version's schema (3): no session_id column
    db = sqlite3.connect(tmp_path / "memories.db")
    db.execute("ALTER TABLE pending_work DROP COLUMN session_id")
    db.execute("UPDATE store_meta SET value = '3' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with Memory(path=tmp_path, embedder="hash", llm=RuleBasedChatModel()) as memory:
        [replayed] = memory.retry_pending()
        assert [e.text for e in replayed.results] == ["Lives in Oslo"]
    db = sqlite3.connect(tmp_path / "memories.db")
    version = db.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
    db.close()
    assert version == (str(SCHEMA_VERSION),)

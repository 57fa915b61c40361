"""DESIGN invariants 1 and 2 under kill -9: acknowledged writes survive, nothing is
half-present after the reconcile step on reopen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentmem_plugins import AsyncMemory

CHILD = Path(__file__).with_name("_crash_child.py")

pytestmark = pytest.mark.slow


def run_until_killed(store: Path, point: str, n: int, *, kill_after_acks: int | None = None):
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(store), point, str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    acked: dict[str, str] = {}
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ACK "):
            _, memory_id, text = line.rstrip("\n").split(" ", 2)
            acked[memory_id] = text
        if kill_after_acks is not None and len(acked) >= kill_after_acks:
            os.kill(proc.pid, signal.SIGKILL)
            break
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("writer did not die in time")
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"writer exited with {proc.returncode}"
    return acked


@pytest.mark.parametrize(
    ("point", "n", "kill_after"),
    [
        ("before_sql", 6, None),  # vector side may have written, SQL not
        ("after_sql", 6, None),  # SQL committed, vector side maybe not, nothing acked
        ("before_vectors", 6, None),
        ("after_vectors", 6, None),
        ("during_maintenance", 2, None),
        ("random", 0, 300),  # the parent kills it mid-stream
    ],
)
async def test_kill9_mid_ingest_loses_no_acknowledged_write(tmp_path, point, n, kill_after):
    store = tmp_path / "store"
    acked = run_until_killed(store, point, n, kill_after_acks=kill_after)
    if point != "random":
        assert acked, "the kill point was reached before any write was acknowledged"

    async with AsyncMemory(path=store, embedder="hash") as memory:
        stores = memory._stores
        # consistent: the vector side holds exactly the SQL rows at their revisions
        assert stores.vectors.revisions() == stores.records.revisions()
        # durable: every acknowledged write is there and searchable
        found = {m.id: m for m in await memory.get_many(list(acked))}
        assert set(found) == set(acked)
        for memory_id, text in list(acked.items())[-20:]:
            assert found[memory_id].text == text
            user = found[memory_id].user_id
            hits = await memory.search(text, user_id=user, limit=3)
            assert memory_id in [h.id for h in hits]
            words = text.split()[-1]  # a token unique to this memory
            hits = await memory.search(words, user_id=user, mode="fulltext", limit=3)
            assert memory_id in [h.id for h in hits]
        # and the store keeps working after recovery
        await memory.add("after the crash", user_id="user0")
        assert await memory.count(user_id="user0") >= 1

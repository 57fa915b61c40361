"""A writer process that kills itself (SIGKILL) at a chosen point; run by test_crash.py.

Usage: python _crash_child.py STORE KILL_POINT N
Prints ``ACK <id> <text>`` for every add that returned, flushing each line, so the
parent knows exactly which writes were acknowledged before the kill.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys

from agentmem_plugins import AsyncMemory
from agentmem_plugins.storage import PgVectorIndex, RecordStore, VectorIndex


def die_on_call(cls: type, name: str, n: int, *, after: bool) -> None:
    """Kill the process on the n-th call of ``cls.name`` (before or after it runs)."""
    original = getattr(cls, name)
    calls = {"n": 0}

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls["n"] == n and after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(cls, name, wrapper)


async def main(path: str, point: str, n: int) -> None:
    hooks = {
        "before_sql": (RecordStore, "apply", False),
        "after_sql": (RecordStore, "apply", True),
        "before_vectors": (VectorIndex, "apply", False),
        "after_vectors": (VectorIndex, "apply", True),
        "during_maintenance": (VectorIndex, "maintain", False),
        # everything in PostgreSQL: vectors written, the batch's transaction not committed
        "inside_pg_transaction": (PgVectorIndex, "apply_in", True),
    }
    if point in hooks:
        cls, name, after = hooks[point]
        die_on_call(cls, name, n, after=after)
    url = os.environ.get("AGENTMEM_CRASH_CHILD_URL")  # everything in this PostgreSQL
    backend = {"sql_url": url, "vector_uri": url} if url else {}
    memory = AsyncMemory(path=path, embedder="hash", compact_every_writes=3, **backend)

    async def writer(worker: int) -> None:
        for i in range(10_000):
            text = f"worker {worker} fact {i} about zebra{worker}x{i}"
            result = await memory.add(text, user_id=f"user{worker % 3}")
            print(f"ACK {result.results[0].id} {text}", flush=True)

    await asyncio.gather(*(writer(w) for w in range(8)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))

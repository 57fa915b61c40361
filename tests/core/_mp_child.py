"""A process sharing one store with others; run by test_multiprocess.py.

Usage: python _mp_child.py CONFIG_JSON ROLE NAME SEED STEPS [GO_FILE]
(a writer given GO_FILE imports everything, prints ``READY``, then waits for that file to
exist: process start-up, mostly importing LanceDB, overlaps the previous writer's run, or
several processes open one new store at the same moment)
- ``writer``: STEPS seeded steps of single adds (4 at once), ``add_many`` batches,
  updates and deletes of its own memories. Prints ``TRY <id>`` before an update or
  delete and ``ACK <op> <id> <text>`` after it returned (flushed), so the parent knows
  exactly what was acknowledged and what was in flight when it killed the process.
- ``opener``: opens the store, searches, closes, again, until the file ``<NAME>`` exists.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path

from agentmem_plugins import AsyncMemory


def say(line: str) -> None:
    print(line, flush=True)


async def writer(config: dict, name: str, seed: int, steps: int) -> None:
    rng = random.Random(seed)
    live: dict[str, str] = {}  # id -> text of this writer's acknowledged memories
    counter = 0

    def text() -> str:
        nonlocal counter
        counter += 1
        return f"{name} note {counter} about tok{name}x{counter}"

    async with AsyncMemory(**config) as memory:
        for _ in range(steps):
            op = rng.choices(["single", "many", "update", "delete"], [3, 2, 2, 2])[0]
            user = f"user{rng.randrange(2)}"
            if op == "single" or (op in ("update", "delete") and not live):
                texts = [text() for _ in range(4)]
                results = await asyncio.gather(*(memory.add(t, user_id=user) for t in texts))
                for t, result in zip(texts, results, strict=True):
                    live[result.results[0].id] = t
                    say(f"ACK add {result.results[0].id} {t}")
            elif op == "many":
                texts = [text() for _ in range(rng.randrange(10, 30))]
                ids = await memory.add_many({"text": t, "user_id": user} for t in texts)
                for memory_id, t in zip(ids, texts, strict=True):
                    live[memory_id] = t
                    say(f"ACK add {memory_id} {t}")
            elif op == "update":
                memory_id = rng.choice(sorted(live))
                new = text() + " updated"
                say(f"TRY {memory_id}")
                await memory.update(memory_id, text=new)
                live[memory_id] = new
                say(f"ACK update {memory_id} {new}")
            else:
                memory_id = rng.choice(sorted(live))
                say(f"TRY {memory_id}")
                await memory.delete(memory_id)
                del live[memory_id]
                say(f"ACK delete {memory_id} -")
    say("DONE")


async def opener(config: dict, stop_file: str) -> None:
    n = 0
    while not Path(stop_file).exists():
        async with AsyncMemory(**config) as memory:
            await memory.search(f"note {n}", user_id=f"user{n % 2}", limit=3)
            await memory.search(f"tokw{n}", user_id=f"user{n % 2}", mode="fulltext", limit=3)
        n += 1
    say(f"OPENED {n}")


def main() -> None:
    config, role, name, seed, steps = sys.argv[1:6]
    cfg = json.loads(config)
    if len(sys.argv) > 6:
        import lancedb  # noqa: F401  (the slow part of starting)

        say("READY")
        while not Path(sys.argv[6]).exists():
            time.sleep(0.01)
    if role == "writer":
        asyncio.run(writer(cfg, name, int(seed), int(steps)))
    else:
        asyncio.run(opener(cfg, name))


if __name__ == "__main__":
    main()

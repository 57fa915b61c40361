"""What memory expiry costs the read path, side by side in one process.

Every read asks SQL "has any memory expired by now?" (one indexed lookup) and adds the
expiry clause only when one has. This measures, on one store, interleaved round by
round:

* ``off``: the check stubbed out (what reads cost before expiry existed);
* ``check``: the check, nothing expired (the common case);
* ``clause``: one memory expired and not yet swept, so the clause is in every query
  (index-only scope counts then need table lookups). In use this state is short: the
  first read that finds an expired row starts a sweep (switched off here).

for a small-scope search (exact path), ``get_all`` (10 rows) and ``count`` of a scope.

    python -m benchmarks.expiry_reads --memories 20000 --scopes 10 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from agentmem_plugins import AsyncMemory, _expiry
from agentmem_plugins.storage import _records


async def _median_ms(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def main(memories: int, scopes: int, rounds: int, calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        memory = AsyncMemory(path=tmp, embedder="hash")
        await memory.add_many(
            {"text": f"memory {i} about topic {i % 37}", "user_id": f"u{i % scopes}"}
            for i in range(memories)
        )
        expiring = (await memory.add("expires", user_id="u1", ttl=3600, infer=False)).results
        workloads: dict[str, Callable[[], Awaitable[Any]]] = {
            "search": lambda: memory.search("topic 5", user_id="u1"),
            "get_all": lambda: memory.get_all(user_id="u1", limit=10),
            "count": lambda: memory.count(user_id="u1"),
        }
        # reads that find expired rows start a sweep, which would end the "clause"
        # state at once: switched off here to measure that state itself
        memory._stores.records.on_expired = None
        real_check = _records.RecordStore.expiry_cutoff
        real_now = _expiry.utc_now
        results: dict[str, dict[str, list[float]]] = {}
        for _ in range(rounds):
            for variant in ("off", "check", "clause"):
                _records.RecordStore.expiry_cutoff = (  # type: ignore[method-assign]
                    (lambda self, as_of=None: None) if variant == "off" else real_check
                )
                if variant == "clause":  # an hour and a second later: one memory expired
                    _expiry.utc_now = lambda: real_now() + timedelta(seconds=3601)
                for name, fn in workloads.items():
                    await fn()  # warm
                    ms = await _median_ms(fn, calls)
                    results.setdefault(name, {}).setdefault(variant, []).append(ms)
                _expiry.utc_now = real_now
        _records.RecordStore.expiry_cutoff = real_check  # type: ignore[method-assign]
        await memory.close()
    scope_rows = memories // scopes
    print(f"{memories:,} memories, {scope_rows:,} in the searched scope ({expiring[0].id[:8]})")
    print("| read | check stubbed out | check, nothing expired | clause active |")
    print("| --- | --- | --- | --- |")
    for name, by_variant in results.items():
        cells = [f"{statistics.median(by_variant[v]):.2f} ms" for v in ("off", "check", "clause")]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memories", type=int, default=20_000)
    parser.add_argument("--scopes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(main(args.memories, args.scopes, args.rounds, args.calls))

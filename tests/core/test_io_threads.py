"""The threads that run blocking store calls (``io_threads``), and index upkeep on a
thread of its own beside them."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from agentmem_plugins import AsyncMemory, ConfigError, MemoryConfig


def test_io_threads_defaults_to_8_and_is_checked(tmp_path: Path):
    assert MemoryConfig(path=tmp_path).io_threads == 8
    with pytest.raises(ConfigError, match="io_threads"):
        MemoryConfig.build(path=tmp_path, io_threads=0)


async def test_the_pool_has_that_many_threads_and_upkeep_runs_beside_it(tmp_path: Path):
    async with AsyncMemory(path=tmp_path, embedder="hash", io_threads=2) as memory:
        gate = threading.Event()
        seen: list[str] = []

        def upkeep() -> None:
            seen.append(threading.current_thread().name)
            gate.wait(10)  # an upkeep that waits on an index build

        stores = memory._stores
        stores.maintain = upkeep  # type: ignore[method-assign]
        memory._writer.upkeep.start()
        await asyncio.sleep(0.05)

        # both io threads stay free for reads and writes while the upkeep waits
        def where() -> str:
            both.wait(5)  # returns once the two calls run at once
            return threading.current_thread().name

        both = threading.Barrier(2)
        threads = await asyncio.gather(memory._io(where), memory._io(where))
        gate.set()
        await memory._writer.upkeep.wait()
    assert seen and seen[0].startswith("agentmem-upkeep")
    assert len(set(threads)) == 2 and all(t.startswith("agentmem-io") for t in threads)

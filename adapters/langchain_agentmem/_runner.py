"""Where the core's coroutines run, for sync and async adapter methods alike.

An :class:`~agentmem_plugins.AsyncMemory` belongs to the event loop that first wrote
to it (its write pipeline runs as tasks there). Every adapter therefore sends each
core call to that one loop:

* over a :class:`~agentmem_plugins.Memory` facade: the facade's private loop thread.
  Sync methods block on it; async methods await it without tying up a thread
  (``asyncio.wrap_future``), so they work from any loop, Jupyter's included.
* over an :class:`~agentmem_plugins.AsyncMemory`: the loop it was built in (or first
  awaited from). Async methods await the core directly; sync methods work from other
  threads while that loop runs (e.g. LangGraph's sync tool nodes in a worker thread),
  and raise a clear ``RuntimeError`` where blocking would deadlock.

``asyncio.run`` is never used: a fresh loop would strand the memory's tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agentmem_plugins import AsyncMemory, Memory

__all__ = ["CoreRunner", "as_runner"]

T = TypeVar("T")
CoreCall = Callable[[AsyncMemory], Awaitable[T]]


def _facade_loop(memory: Memory) -> asyncio.AbstractEventLoop:
    return memory.loop  # the facade's own loop thread


async def _call(fn: CoreCall[T], core: AsyncMemory) -> T:
    return await fn(core)


class CoreRunner:
    """Runs ``fn(async_memory)`` on the loop that owns the memory (see module doc)."""

    def __init__(self, memory: AsyncMemory | Memory, *, owned: bool = False) -> None:
        if isinstance(memory, Memory):
            self.facade: Memory | None = memory
            self.core = memory.async_memory
            self._loop: asyncio.AbstractEventLoop | None = _facade_loop(memory)
        elif isinstance(memory, AsyncMemory):
            self.facade = None
            self.core = memory
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                self._loop = None  # learned on the first awaited call
        else:
            raise TypeError(
                "memory must be an agentmem_plugins.AsyncMemory or Memory, "
                f"got {type(memory).__name__}"
            )
        #: the adapter built this memory and closes it in ``close()``
        self.owned = owned

    @property
    def memory(self) -> AsyncMemory | Memory:
        return self.facade if self.facade is not None else self.core

    async def arun(self, fn: CoreCall[T]) -> T:
        running = asyncio.get_running_loop()
        if self._loop is None or (self.facade is None and self._loop.is_closed()):
            self._loop = running
        if self._loop is running:
            return await fn(self.core)
        future = asyncio.run_coroutine_threadsafe(_call(fn, self.core), self._loop)
        return await asyncio.wrap_future(future)

    def run(self, fn: CoreCall[T]) -> T:
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            raise RuntimeError(
                "this adapter wraps an AsyncMemory whose event loop is not running, so its "
                "sync methods have nowhere to run: use the async methods (aadd_texts, "
                "asimilarity_search, abatch, ...) or pass agentmem_plugins.Memory(...) "
                "for sync use"
            )
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError(
                "a sync method was called on the event loop that runs this AsyncMemory, "
                "which would deadlock: await the async method instead, or pass "
                "agentmem_plugins.Memory(...) for sync use"
            )
        return asyncio.run_coroutine_threadsafe(_call(fn, self.core), loop).result()

    def close(self) -> None:
        """Close the memory if the adapter built it (a wrapped one stays open)."""
        if not self.owned:
            return
        if self.facade is not None:
            self.facade.close()
        else:
            self.run(lambda m: m.close())

    async def aclose(self) -> None:
        if not self.owned:
            return
        await self.arun(lambda m: m.close())
        if self.facade is not None:
            await asyncio.to_thread(self.facade.close)  # stops the loop thread


def as_runner(memory: Any, **build: Any) -> CoreRunner:
    """A runner over ``memory``, or over a new ``Memory(**build)`` when it is ``None``."""
    if memory is None:
        return CoreRunner(Memory(**build), owned=True)
    if isinstance(memory, CoreRunner):
        return memory
    return CoreRunner(memory)

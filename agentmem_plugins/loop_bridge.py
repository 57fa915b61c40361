"""The one sync/async bridge of every adapter (LangChain, LangGraph and LlamaIndex alike).

For adapter authors: public, so that every distribution can import it, but not part of
the user API. An :class:`~agentmem_plugins.AsyncMemory` belongs to the event loop that
first wrote to it (its write pipeline runs as tasks there), so :class:`CoreRunner` sends
each core call to that one loop:

* over a :class:`~agentmem_plugins.Memory` facade: the facade's private loop thread.
  Sync methods block on it; async methods await it without tying up a thread
  (``asyncio.wrap_future``). Both work from any thread and any loop, Jupyter's
  included.
* over an :class:`~agentmem_plugins.AsyncMemory`: the loop it was built in (or first
  awaited from). Async methods await the core directly on that loop; sync methods work
  from other threads (with no loop of their own running) while that loop runs, e.g.
  LangGraph's sync tool nodes in a worker thread.

Everything else raises one error, :class:`~agentmem_plugins.ConfigError`, naming the
fix, instead of deadlocking or stranding the memory's tasks on a dead loop: a sync call
on the memory's own loop (it would wait for itself), a sync call from inside another
running loop (e.g. LlamaIndex's ``asyncio_run`` thread, whose caller may be blocking the
memory's loop), and an async call from a second loop. It is deliberately not a
``RuntimeError``: LlamaIndex's ``asyncio_run`` would replace that with its "nested
async" message. ``asyncio.run`` is never used: a fresh loop would strand the memory's
tasks.

Adapter code is written once, as coroutines that reach the core through
:meth:`CoreRunner.arun`; the framework's sync methods are one-line delegations::

    async def aquery(self, query):
        return await self._runner.arun(lambda m: m.search(query, user_id="u"))

    def query(self, query):
        return self._runner.run(lambda _: self.aquery(query))

``run`` executes the whole adapter coroutine on the memory's loop, where every
``arun`` inside it awaits the core directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._errors import ConfigError
from ._memory import AsyncMemory
from ._sync import Memory

__all__ = ["CoreCall", "CoreRunner", "as_runner"]

T = TypeVar("T")
#: what an adapter asks of the core: a coroutine function of the ``AsyncMemory``
CoreCall = Callable[[AsyncMemory], Awaitable[T]]

_USE_MEMORY = "or build the adapter over agentmem_plugins.Memory(...) for sync use"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _call(fn: CoreCall[T], core: AsyncMemory) -> T:
    return await fn(core)


class CoreRunner:
    """Runs ``fn(async_memory)`` on the loop that owns the memory (see the module doc)."""

    def __init__(self, memory: AsyncMemory | Memory, *, owned: bool = False) -> None:
        self.facade: Memory | None
        self._loop: asyncio.AbstractEventLoop | None
        if isinstance(memory, Memory):
            self.facade = memory
            self.core: AsyncMemory = memory.async_memory
            self._loop = memory.loop  # the facade's own loop thread
        elif isinstance(memory, AsyncMemory):
            self.facade = None
            self.core = memory
            self._loop = _running_loop()  # else learned on the first awaited call
        else:
            raise TypeError(
                "memory must be an agentmem_plugins.AsyncMemory or Memory, "
                f"got {type(memory).__name__}"
            )
        #: the adapter built this memory and closes it in ``close()``
        self.owned = owned

    @property
    def memory(self) -> AsyncMemory | Memory:
        """The memory the adapter was given (the facade, if it was given one)."""
        return self.facade if self.facade is not None else self.core

    async def arun(self, fn: CoreCall[T]) -> T:
        """Await ``fn(core)`` from async adapter code, on the memory's loop."""
        running = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = running
        if self._loop is running:
            return await fn(self.core)
        if self.facade is None:
            # Forwarding to the memory's loop could deadlock (LlamaIndex's sync methods
            # run coroutines on a fresh loop while blocking the first one's thread), and
            # using this loop would strand its write pipeline on a loop about to close.
            raise ConfigError(
                "this AsyncMemory is in use on another event loop, and an AsyncMemory must "
                "stay on one loop: build the adapter over agentmem_plugins.Memory to call "
                "it from several loops or threads (e.g. LlamaIndex's sync methods)"
            )
        future = asyncio.run_coroutine_threadsafe(_call(fn, self.core), self._loop)
        return await asyncio.wrap_future(future)

    def run(self, fn: CoreCall[T]) -> T:
        """Block on ``fn(core)`` from sync adapter code, on the memory's loop."""
        loop = self._loop
        running = _running_loop()
        if loop is not None and running is loop:
            raise ConfigError(
                "a sync method was called on the event loop that runs this memory, which "
                "would deadlock: await the async method instead (aadd_texts, "
                f"asimilarity_search, aget, aput, aquery, ...), {_USE_MEMORY}"
            )
        if self.facade is None:
            if loop is None or loop.is_closed() or not loop.is_running():
                raise ConfigError(
                    "this adapter wraps an AsyncMemory whose event loop is not running, so "
                    "its sync methods have nowhere to run: use the async methods (aadd_texts, "
                    f"asimilarity_search, aget, aput, aquery, ...), {_USE_MEMORY}"
                )
            if running is not None:
                raise ConfigError(
                    "a sync method was called inside a running event loop that does not own "
                    "this AsyncMemory (e.g. LlamaIndex's asyncio_run, or Jupyter), where "
                    f"waiting for the memory's loop could deadlock: await the async method, "
                    f"{_USE_MEMORY}"
                )
        assert loop is not None
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
        """``close`` for async code: awaits the core's close on its loop."""
        if not self.owned:
            return
        await self.arun(lambda m: m.close())
        if self.facade is not None:
            await asyncio.to_thread(self.facade.close)  # stops the loop thread


def as_runner(memory: Any, **build: Any) -> CoreRunner:
    """A runner over ``memory``, or over a new ``Memory(**build)`` (owned) when ``None``."""
    if memory is None:
        return CoreRunner(Memory(**build), owned=True)
    if isinstance(memory, CoreRunner):
        return memory
    return CoreRunner(memory)

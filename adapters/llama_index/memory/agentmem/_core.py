"""``CoreHandle``: one way for every LlamaIndex adapter to reach the shared core.

The adapters accept either core class:

* :class:`agentmem_plugins.Memory` (the sync facade, which owns a private loop thread):
  usable from sync *and* async LlamaIndex code, from any thread or event loop; async
  calls are scheduled on the facade's loop and awaited without tying up a thread;
* :class:`agentmem_plugins.AsyncMemory`: async LlamaIndex code on the one event loop the
  memory lives on (its write pipeline runs as tasks there); sync methods only from
  other threads while that loop runs. Anything else raises a clear
  :class:`~agentmem_plugins.ConfigError` rather than deadlock or strand the memory's
  tasks on a dead loop (not a ``RuntimeError``: LlamaIndex's ``asyncio_run`` would
  replace that with its "nested async" message).

Each adapter operation is written once, as a coroutine that awaits
:meth:`CoreHandle.call`. A sync LlamaIndex method runs that same coroutine with
:meth:`CoreHandle.run_sync`: in blocking mode ``call`` invokes the facade's blocking
method directly, so the coroutine never suspends and one ``send(None)`` drives it to the
end. No event loop is created, and it works inside a running loop (Jupyter) as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

import numpy as np

from agentmem_plugins import AsyncMemory, ConfigError, Memory

__all__ = ["CoreHandle", "blocking"]

T = TypeVar("T")
_BLOCKING: contextvars.ContextVar[bool] = contextvars.ContextVar("agentmem_blocking", default=False)


def blocking() -> bool:
    """True while a sync adapter method is running its coroutine with ``run_sync``."""
    return _BLOCKING.get()


class CoreHandle:
    """A core memory (``Memory`` or ``AsyncMemory``) as the adapters use it."""

    def __init__(self, memory: Any) -> None:
        if isinstance(memory, Memory):
            self.facade: Memory | None = memory
            self.core: AsyncMemory = memory.async_memory
        elif isinstance(memory, AsyncMemory):
            self.facade = None
            self.core = memory
        else:
            raise TypeError(
                "memory must be an agentmem_plugins.Memory or AsyncMemory, "
                f"got {type(memory).__name__}"
            )
        self.memory = memory
        #: the loop an AsyncMemory lives on: the one running at construction, else the
        #: first one that awaits it
        self._loop: asyncio.AbstractEventLoop | None = None
        if self.facade is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()

    @property
    def embedder(self) -> Any:
        return self.core.embedder

    @property
    def llm(self) -> Any:
        return self.core.llm

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``memory.<method>(*args, **kwargs)``, run where the core lives (module doc)."""
        if blocking():
            return self._call_blocking(method, *args, **kwargs)
        running = asyncio.get_running_loop()
        if self.facade is not None:  # the facade's loop runs the core; await it from here
            coro = getattr(self.core, method)(*args, **kwargs)
            future = asyncio.run_coroutine_threadsafe(coro, self.facade.loop)
            return await asyncio.wrap_future(future)
        if self._loop is None:
            self._loop = running
        elif self._loop is not running:
            # Forwarding to the memory's loop could deadlock (LlamaIndex's sync methods run
            # coroutines on a fresh loop while blocking the first one's thread); using it
            # here could strand its write pipeline on a loop that is about to close.
            raise ConfigError(
                "this AsyncMemory is in use on another event loop, and an AsyncMemory must "
                "stay on one loop: build the adapter over agentmem_plugins.Memory to call "
                "it from several loops or threads (e.g. LlamaIndex's sync methods)"
            )
        return await getattr(self.core, method)(*args, **kwargs)

    def _call_blocking(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.facade is not None:
            return getattr(self.facade, method)(*args, **kwargs)
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or loop.is_closed() or not loop.is_running() or running is not None:
            raise ConfigError(
                "a sync method of this LlamaIndex adapter was called, but it wraps an "
                "AsyncMemory whose loop cannot serve it from here: await the async method "
                "(aget/aput/aquery/async_add/...), or build the adapter over "
                "agentmem_plugins.Memory for sync use"
            )
        coro = getattr(self.core, method)(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run an adapter coroutine to completion from sync code (see the module doc)."""
        token = _BLOCKING.set(True)
        try:
            try:
                coro.send(None)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            coro.close()
            raise RuntimeError("an adapter coroutine suspended while running in blocking mode")
        finally:
            _BLOCKING.reset(token)

    async def vectors(self, ids: Iterable[str]) -> dict[str, np.ndarray]:
        """The stored vectors of ``ids`` (for MMR and ``node_ids`` queries)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        return dict(await self.call("get_vectors", wanted))

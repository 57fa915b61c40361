"""``Memory``: the thin synchronous facade over :class:`AsyncMemory`.

Every method runs the async implementation on a private event loop in a daemon thread,
so it works the same in a script, a thread pool, or a Jupyter cell whose own loop is
already running (where ``asyncio.run`` would fail). There is no second implementation:
each method below is generated from its async twin, signature and docstring included.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ._config import MemoryConfig
from ._memory import AsyncMemory

__all__ = ["Memory"]

T = TypeVar("T")


class _LoopThread:
    """An event loop running in its own daemon thread; ``call`` blocks on a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="agentmem-loop", daemon=True
        )
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("Memory's sync methods cannot be called from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


def _sync(name: str) -> Callable[..., Any]:
    async_method = getattr(AsyncMemory, name)

    @functools.wraps(async_method)
    def method(self: Memory, *args: Any, **kwargs: Any) -> Any:
        return self._loop.call(getattr(self._async, name)(*args, **kwargs))

    return method


_OPEN: weakref.WeakSet[Memory] = weakref.WeakSet()


def _close_open_memories() -> None:
    """At interpreter exit, flush and close every Memory the program left open.

    Registered with ``threading``'s exit hooks, which run before the thread pools are
    shut down and while our loop thread still runs; a ``__del__`` during finalisation
    could not run the loop any more and would wait forever.
    """
    for memory in list(_OPEN):
        with contextlib.suppress(Exception):
            memory.close()


_register = getattr(threading, "_register_atexit", None)
(_register or atexit.register)(_close_open_memories)


class Memory:
    """Synchronous long-term memory for agents (same methods as :class:`AsyncMemory`).

    Example::

        from agentmem_plugins import Memory

        with Memory(path="./mem", embedder="hash") as memory:
            memory.add("I live in Paris", user_id="alice")
            for hit in memory.search("where does alice live?", user_id="alice"):
                print(f"{hit.score:.3f}  {hit.text}")
    """

    def __init__(self, config: MemoryConfig | None = None, /, **kwargs: Any) -> None:
        self._loop = _LoopThread()

        async def build() -> AsyncMemory:
            return AsyncMemory(config, **kwargs)

        try:
            self._async = self._loop.call(build())
        except BaseException:
            self._loop.stop()
            raise
        _OPEN.add(self)

    @property
    def async_memory(self) -> AsyncMemory:
        """The :class:`AsyncMemory` behind this facade (share it with async code)."""
        return self._async

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The private event loop the async memory runs on: adapters schedule its
        coroutines there (``asyncio.run_coroutine_threadsafe``) to await them from another
        loop without blocking a thread."""
        return self._loop.loop

    @property
    def config(self) -> MemoryConfig:
        return self._async.config

    @property
    def embedder(self) -> Any:
        return self._async.embedder

    @property
    def llm(self) -> Any:
        return self._async.llm

    add = _sync("add")
    add_many = _sync("add_many")
    search = _sync("search")
    get = _sync("get")
    get_many = _sync("get_many")
    get_vectors = _sync("get_vectors")
    get_all = _sync("get_all")
    update = _sync("update")
    delete = _sync("delete")
    delete_many = _sync("delete_many")
    delete_all = _sync("delete_all")
    count = _sync("count")
    history = _sync("history")
    reset = _sync("reset")
    check = _sync("check")
    pending = _sync("pending")
    retry_pending = _sync("retry_pending")
    flush = _sync("flush")

    def close(self) -> None:
        """Flush and close the store, then stop the private loop. Safe to call twice."""
        if self._loop.loop.is_closed():
            return
        _OPEN.discard(self)
        try:
            self._loop.call(self._async.close())
        finally:
            self._loop.stop()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() explicitly
        loop = getattr(self, "_loop", None)
        if sys.is_finalizing():  # the exit hook above already closed it
            return
        if loop is not None and not loop.loop.is_closed():
            with contextlib.suppress(Exception):
                self.close()

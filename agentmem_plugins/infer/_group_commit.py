"""``GroupCommit``: one blocking store call for the items of concurrent callers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from .._io import IO

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Items for one blocking store call (``write(items)``), collected from concurrent
    callers: the items that arrive while a call is in flight go together in the next.
    Every caller of a call gets what it returned (or its error)."""

    def __init__(self, io: IO, write: Callable[[Sequence[T]], R]) -> None:
        self._io = io
        self._write = write
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # callers of this loop turn join the first call too
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                result = await self._io(self._write, [item for item, _ in batch])
            except Exception as exc:  # every caller of that call learns it failed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(result)

"""``IO``: how the async core runs a blocking store call off the event loop, typed.

``AsyncMemory._io`` is the one implementation (a thread pool per memory); the writer,
the searcher, the stores and the infer pipeline are handed it as a collaborator. Typed
with a ``ParamSpec``, so ``await io(records.fetch, ids, scope=scope)`` is checked against
``fetch``'s signature and has its return type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, Protocol, TypeVar

__all__ = ["IO"]

P = ParamSpec("P")
T = TypeVar("T")


class IO(Protocol):
    def __call__(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[T]: ...

"""The ``Embedder`` protocol: what the core needs from an embedding model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Embedder"]


@runtime_checkable
class Embedder(Protocol):
    """A batch text embedder.

    ``name`` identifies the embedding space (model and anything that changes the
    vectors); the store records it with ``dim`` and refuses to open with another
    (DESIGN invariant 5). Methods are blocking: the core runs them in a worker thread
    in exactly one place. They return a ``(len(texts), dim)`` float32 array,
    L2-normalised so that dot product equals cosine similarity.

    An embedder may also define ``async def aembed_documents(texts)`` /
    ``aembed_query(text)`` (e.g. a remote API); the core then awaits those instead of
    using a thread.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

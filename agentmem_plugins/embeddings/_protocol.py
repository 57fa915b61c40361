"""The ``Embedder`` protocol: what the core needs from an embedding model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["AsyncEmbedder", "Embedder", "embed_documents_async", "embed_query_async"]


@runtime_checkable
class Embedder(Protocol):
    """A batch text embedder.

    ``name`` identifies the embedding space (model and anything that changes the
    vectors); the store records it with ``dim`` and refuses to open with another
    (DESIGN invariant 5). Methods are blocking: the core runs them in a worker thread
    in exactly one place. They return a ``(len(texts), dim)`` float32 array,
    L2-normalised so that dot product equals cosine similarity.

    An embedder may also define the optional ``async def aembed_documents(texts)`` and
    ``async def aembed_query(text)`` of :class:`AsyncEmbedder` (e.g. a remote API); the
    core then awaits those instead of using a thread (:func:`embed_documents_async`).
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


@runtime_checkable
class AsyncEmbedder(Embedder, Protocol):
    """An :class:`Embedder` with native async methods (the optional part of the protocol)."""

    async def aembed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    async def aembed_query(self, text: str) -> np.ndarray: ...


async def embed_documents_async(
    embedder: Embedder, texts: Sequence[str], executor: Executor | None = None
) -> np.ndarray:
    """``embedder``'s vectors for ``texts``, awaited without blocking the event loop.

    The one dispatch for the optional async methods: an :class:`AsyncEmbedder`'s
    ``aembed_documents`` is awaited; otherwise ``embed_documents`` runs in ``executor``
    (the loop's default executor when ``None``). The result is returned as the embedder
    gave it; callers check its shape.
    """
    native = getattr(embedder, "aembed_documents", None)
    if native is not None:
        out: np.ndarray = await native(list(texts))
        return out
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, embedder.embed_documents, list(texts))


async def embed_query_async(
    embedder: Embedder, text: str, executor: Executor | None = None
) -> np.ndarray:
    """``embedder``'s vector for ``text``; the dispatch of :func:`embed_documents_async`."""
    native = getattr(embedder, "aembed_query", None)
    if native is not None:
        out: np.ndarray = await native(text)
        return out
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, embedder.embed_query, text)

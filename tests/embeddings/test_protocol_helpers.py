"""The pieces every embedder and bridge shares: L2 normalisation and the async dispatch."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from agentmem_plugins.embeddings import (
    AsyncEmbedder,
    Embedder,
    HashEmbedder,
    embed_documents_async,
    embed_query_async,
    l2_normalize,
)


def test_l2_normalize_gives_unit_rows_and_keeps_zero_rows_zero() -> None:
    out = l2_normalize([[3.0, 4.0], [0.0, 0.0]])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    assert not np.isnan(out).any()
    np.testing.assert_allclose(l2_normalize(np.array([0.0, 2.0])), [0.0, 1.0])
    assert l2_normalize([[1.0, 1.0]], dtype=np.float64).dtype == np.float64


class _SyncOnly:
    name, dim = "sync-only", 4

    def __init__(self) -> None:
        self.threads: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        return np.ones((len(texts), self.dim), dtype=np.float32) / 2

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class _Native(_SyncOnly):
    name = "native"

    async def aembed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.threads.append("awaited")
        return np.zeros((len(texts), self.dim), dtype=np.float32)

    async def aembed_query(self, text: str) -> np.ndarray:
        return (await self.aembed_documents([text]))[0]


def test_the_protocols_name_the_optional_async_methods() -> None:
    assert isinstance(_SyncOnly(), Embedder) and not isinstance(_SyncOnly(), AsyncEmbedder)
    assert isinstance(_Native(), AsyncEmbedder)
    assert isinstance(HashEmbedder(dim=8), Embedder)


async def test_dispatch_awaits_native_methods_and_threads_the_blocking_ones() -> None:
    native, plain = _Native(), _SyncOnly()
    assert (await embed_documents_async(native, ["a", "b"])).shape == (2, 4)
    assert (await embed_query_async(native, "a")).shape == (4,)
    assert native.threads == ["awaited", "awaited"]
    with ThreadPoolExecutor(1, thread_name_prefix="embed-test") as pool:
        assert (await embed_documents_async(plain, ["a"], pool)).shape == (1, 4)
        assert (await embed_query_async(plain, "a", pool)).shape == (4,)
    assert plain.threads and all(t.startswith("embed-test") for t in plain.threads)

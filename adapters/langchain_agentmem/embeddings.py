"""Embedding bridges: LangChain ``Embeddings`` <-> the core ``Embedder`` protocol.

* :class:`LangChainEmbedder` lets the core embed with any LangChain embedding model
  (OpenAI, HuggingFace, Ollama, ...): batched calls, float32 L2-normalised arrays, a
  stable ``name`` for the store's embedding-space check and a ``dim`` probed once.
* :class:`AgentMemEmbeddings` exposes a core embedder (``"hash"``, fastembed, your own)
  as LangChain ``Embeddings``, for LangChain code and LangGraph's ``index`` config.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from agentmem_plugins.embeddings import (
    Embedder,
    embed_documents_async,
    embed_query_async,
    l2_normalize,
    make_embedder,
)

__all__ = ["AgentMemEmbeddings", "LangChainEmbedder", "to_core_embedder"]

# Attributes LangChain embedding classes keep their model name in, most common first.
_MODEL_ATTRS = ("model", "model_name", "model_id", "deployment", "repo_id", "size")
_PROBE = "dimension probe"


def _derive_name(embeddings: Embeddings) -> str:
    cls = type(embeddings)
    name = f"langchain:{cls.__module__}.{cls.__qualname__}"
    for attr in _MODEL_ATTRS:
        value = getattr(embeddings, attr, None)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
            return f"{name}:{value}"
    return name


def _normalise(matrix: np.ndarray) -> np.ndarray:
    return l2_normalize(matrix)


class LangChainEmbedder:
    """A LangChain ``Embeddings`` as a core :class:`~agentmem_plugins.Embedder`.

    Example::

        from langchain_openai import OpenAIEmbeddings
        from agentmem_plugins import Memory

        memory = Memory(path="./mem", embedder=LangChainEmbedder(OpenAIEmbeddings()))

    ``name`` defaults to the class path plus its model attribute (``model``,
    ``model_name``, ...), e.g. ``langchain:langchain_openai...OpenAIEmbeddings:
    text-embedding-3-small``; pass ``name=`` when two configurations of one class embed
    differently. ``dim`` is probed once with one query embedding unless given. Texts are
    sent ``batch_size`` at a time; the async methods use the model's own async API.
    """

    def __init__(
        self,
        embeddings: Embeddings,
        *,
        name: str | None = None,
        dim: int | None = None,
        batch_size: int = 256,
    ) -> None:
        if not isinstance(embeddings, Embeddings):
            raise TypeError(
                f"embeddings must be a langchain_core Embeddings, got {type(embeddings).__name__}"
            )
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.embeddings = embeddings
        self._name = name or _derive_name(embeddings)
        self._dim = dim
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = len(self.embeddings.embed_query(_PROBE))
        return self._dim

    def _batches(self, texts: Sequence[str]) -> list[list[str]]:
        items = list(texts)
        return [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]

    def _matrix(self, rows: list[list[float]], count: int) -> np.ndarray:
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        matrix = np.asarray(rows, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != count:
            raise ValueError(f"{self._name} returned {matrix.shape[0]} vectors for {count} texts")
        return _normalise(matrix)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        rows = [v for batch in self._batches(texts) for v in self.embeddings.embed_documents(batch)]
        return self._matrix(rows, len(texts))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(np.asarray(self.embeddings.embed_query(text), dtype=np.float32))

    async def aembed_documents(self, texts: Sequence[str]) -> np.ndarray:
        batches = self._batches(texts)
        results = await asyncio.gather(*(self.embeddings.aembed_documents(b) for b in batches))
        return self._matrix([v for batch in results for v in batch], len(texts))

    async def aembed_query(self, text: str) -> np.ndarray:
        vector = await self.embeddings.aembed_query(text)
        return _normalise(np.asarray(vector, dtype=np.float32))

    def __repr__(self) -> str:
        return f"LangChainEmbedder(name={self._name!r})"


class AgentMemEmbeddings(Embeddings):
    """A core embedder (or spec string such as ``"hash"``) as LangChain ``Embeddings``.

    Example::

        embeddings = AgentMemEmbeddings("hash")
        vector = embeddings.embed_query("green tea")   # list[float], unit length
    """

    def __init__(self, embedder: Embedder | str) -> None:
        core = make_embedder(embedder) if isinstance(embedder, str) else embedder
        if core is None:
            raise ValueError("embedder 'none' cannot embed text; name a real embedder")
        if not isinstance(core, Embedder):
            raise TypeError(
                "embedder must be a core Embedder (name, dim, embed_documents, embed_query) "
                f"or a spec string, got {type(embedder).__name__}"
            )
        self.embedder: Embedder = core

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return np.asarray(self.embedder.embed_documents(list(texts)), dtype=float).tolist()

    def embed_query(self, text: str) -> list[float]:
        return np.asarray(self.embedder.embed_query(text), dtype=float).reshape(-1).tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        out = await embed_documents_async(self.embedder, texts)
        return np.asarray(out, dtype=float).tolist()

    async def aembed_query(self, text: str) -> list[float]:
        out = await embed_query_async(self.embedder, text)
        return np.asarray(out, dtype=float).reshape(-1).tolist()

    def __repr__(self) -> str:
        return f"AgentMemEmbeddings({self.embedder.name!r})"


def to_core_embedder(embedding: Any) -> Embedder | str:
    """What the core's ``embedder=`` should get for a LangChain-side ``embedding``."""
    if isinstance(embedding, AgentMemEmbeddings):
        return embedding.embedder  # no double bridge
    if isinstance(embedding, Embeddings):
        return LangChainEmbedder(embedding)
    if isinstance(embedding, (str, Embedder)):
        return embedding
    raise TypeError(
        "embedding must be a LangChain Embeddings, a core Embedder or a core embedder spec "
        f"such as 'hash', got {type(embedding).__name__}"
    )

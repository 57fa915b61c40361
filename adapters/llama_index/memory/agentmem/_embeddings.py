"""Embedding bridges, both ways, batched.

* :class:`LlamaIndexEmbedder`: a LlamaIndex ``BaseEmbedding`` as the core's ``Embedder``
  (e.g. run the core with the same model your index uses);
* :class:`AgentMemEmbedding`: the core's ``Embedder`` (``"hash"``, fastembed, ...) as a
  LlamaIndex ``BaseEmbedding`` (e.g. build an index whose vectors match the core's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from agentmem_plugins.embeddings import (
    Embedder,
    embed_documents_async,
    embed_query_async,
    l2_normalize,
    make_embedder,
)

__all__ = ["AgentMemEmbedding", "LlamaIndexEmbedder"]


def _normalised(rows: Any, dim: int | None = None) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if dim is not None and matrix.shape[1] != dim:
        raise ValueError(f"embedding model returned {matrix.shape[1]} dimensions, expected {dim}")
    return l2_normalize(matrix)


class LlamaIndexEmbedder:
    """A LlamaIndex embedding model as the core's :class:`~agentmem_plugins.Embedder`.

    Batches go through ``get_text_embedding_batch`` (which splits by the model's
    ``embed_batch_size``); vectors are L2-normalised as the core expects. ``name``
    identifies the embedding space for the store's check (default: class and model
    name); ``dim`` is probed with one query embedding when not given. With
    ``use_async=True`` the core awaits the model's async methods instead of running the
    sync ones in a worker thread (use it for remote APIs with a real async client).

    Example::

        from agentmem_plugins import Memory
        from llama_index.core.embeddings import MockEmbedding
        from llama_index.memory.agentmem import LlamaIndexEmbedder

        memory = Memory(path="./mem", embedder=LlamaIndexEmbedder(MockEmbedding(embed_dim=8)))
    """

    def __init__(
        self,
        embed_model: BaseEmbedding,
        *,
        name: str | None = None,
        dim: int | None = None,
        use_async: bool = False,
    ) -> None:
        if not isinstance(embed_model, BaseEmbedding):
            raise TypeError(
                f"embed_model must be a LlamaIndex BaseEmbedding, got {type(embed_model).__name__}"
            )
        self.embed_model = embed_model
        self._name = name or f"llama_index:{embed_model.class_name()}:{embed_model.model_name}"
        self._dim = dim or len(embed_model.get_query_embedding("dimension probe"))
        if use_async:  # the core awaits these when present
            self.aembed_documents = self._aembed_documents
            self.aembed_query = self._aembed_query

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return _normalised(self.embed_model.get_text_embedding_batch(list(texts)), self._dim)

    def embed_query(self, text: str) -> np.ndarray:
        return _normalised(self.embed_model.get_query_embedding(text), self._dim)[0]

    async def _aembed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        rows = await self.embed_model.aget_text_embedding_batch(list(texts))
        return _normalised(rows, self._dim)

    async def _aembed_query(self, text: str) -> np.ndarray:
        return _normalised(await self.embed_model.aget_query_embedding(text), self._dim)[0]


class AgentMemEmbedding(BaseEmbedding):
    """The core's embedder as a LlamaIndex embedding model.

    Takes an :class:`~agentmem_plugins.Embedder` or a spec string (``"hash"``,
    ``"fastembed:<model>"``). A batch is one ``embed_documents`` call; async calls use
    the embedder's async methods when it has them, else a worker thread.

    Example::

        from llama_index.memory.agentmem import AgentMemEmbedding

        embed_model = AgentMemEmbedding("hash")  # or AgentMemEmbedding(core.embedder)
        vector = embed_model.get_text_embedding("I like green tea")
    """

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Embedder | str, **kwargs: Any) -> None:
        built = make_embedder(embedder)
        if built is None:
            raise ValueError("AgentMemEmbedding needs a real embedder, not 'none'")
        kwargs.setdefault("model_name", built.name)
        super().__init__(**kwargs)
        self._embedder = built

    @classmethod
    def class_name(cls) -> str:
        return "AgentMemEmbedding"

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return np.asarray(self._embedder.embed_query(query), dtype=np.float32).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return np.asarray(self._embedder.embed_documents(texts), dtype=np.float32).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        out = await embed_query_async(self._embedder, query)
        return np.asarray(out, dtype=np.float32).tolist()

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await self._aget_text_embeddings([text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        out = await embed_documents_async(self._embedder, texts)
        return np.asarray(out, dtype=np.float32).tolist()

"""The one place where blocking model work (embedding, reranking) becomes async.

Length bucketing (sort by token count, embed in buckets, restore the order) lives in
the embedder (``FastEmbedEmbedder.embed_documents``, via ``embeddings._buckets``), so
that every caller of the embedder gets it, not only the write path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._errors import EmbedderError, InvalidInputError
from .embeddings import Embedder, embed_documents_async, embed_query_async
from .rerankers import Reranker, rerank_async

__all__ = ["EmbeddingRunner"]


class EmbeddingRunner:
    """Runs an :class:`Embedder` off the event loop and checks what it returns.

    fastembed (ONNX Runtime) releases the GIL, so a worker thread gives real overlap
    between embedding one batch and persisting the previous one.
    """

    def __init__(self, embedder: Embedder | None, executor: ThreadPoolExecutor) -> None:
        self.embedder = embedder
        self._executor = executor

    def _require(self) -> Embedder:
        if self.embedder is None:
            raise InvalidInputError(
                "this store has no embedder (embedder='none'): pass vector= with each item "
                "and with each search, or open the store with an embedder"
            )
        return self.embedder

    async def documents(self, texts: Sequence[str]) -> np.ndarray:
        embedder = self._require()
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        try:
            out = await embed_documents_async(embedder, texts, self._executor)
        except (EmbedderError, InvalidInputError):
            raise
        except Exception as exc:
            raise EmbedderError(f"embedder {embedder.name!r} failed: {exc}") from exc
        matrix = np.asarray(out, dtype=np.float32)
        if matrix.shape != (len(texts), embedder.dim):
            raise EmbedderError(
                f"embedder {embedder.name!r} returned shape {matrix.shape}, "
                f"expected ({len(texts)}, {embedder.dim})"
            )
        return matrix

    async def rerank(self, reranker: Reranker, query: str, documents: Sequence[str]) -> list[float]:
        """One relevance score per document, from ``reranker`` (off the event loop)."""
        try:
            out = await rerank_async(reranker, query, documents, self._executor)
        except (EmbedderError, InvalidInputError):
            raise
        except Exception as exc:
            raise EmbedderError(f"reranker {reranker.name!r} failed: {exc}") from exc
        scores = [float(s) for s in out]
        if len(scores) != len(documents):
            raise EmbedderError(
                f"reranker {reranker.name!r} returned {len(scores)} scores for "
                f"{len(documents)} documents"
            )
        return scores

    async def query(self, text: str) -> np.ndarray:
        embedder = self._require()
        if self.blocking:  # the blocking call, in a worker thread
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.query_now, text)
        with _failures(embedder):
            out = await embed_query_async(embedder, text, self._executor)
        return np.asarray(out, dtype=np.float32).reshape(-1)

    @property
    def blocking(self) -> bool:
        """Whether query embedding is a blocking call (the embedder has no
        ``aembed_query``): a search may then embed in the worker thread it searches in,
        :meth:`query_now`, one thread hop fewer than :meth:`query`."""
        return self.embedder is not None and getattr(self.embedder, "aembed_query", None) is None

    def query_now(self, text: str) -> np.ndarray:
        """:meth:`query` as a blocking call, in the calling (worker) thread."""
        embedder = self._require()
        with _failures(embedder):
            out = embedder.embed_query(text)
        return np.asarray(out, dtype=np.float32).reshape(-1)


@contextlib.contextmanager
def _failures(embedder: Embedder) -> Iterator[None]:
    """A query embedding's failure, whatever it raised, as an :class:`EmbedderError`."""
    try:
        yield
    except Exception as exc:
        raise EmbedderError(f"embedder {embedder.name!r} failed: {exc}") from exc

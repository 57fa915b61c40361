"""Reranker bridges: LangChain document compressors <-> the core ``Reranker`` protocol.

* :class:`LangChainReranker` lets the core rerank with a LangChain reranker (any
  ``BaseDocumentCompressor`` that reorders documents, e.g. ``CohereRerank``,
  ``FlashrankRerank``, ``CrossEncoderReranker``): ``Memory(reranker=LangChainReranker(...))``.
* :class:`AgentMemReranker` exposes a core reranker (``"fastembed:<model or folder>"``,
  your own) as a LangChain ``BaseDocumentCompressor``, for ``ContextualCompressionRetriever``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import Document
from langchain_core.documents.compressor import BaseDocumentCompressor
from pydantic import ConfigDict

from agentmem_plugins.rerankers import (
    Reranker,
    as_reranker,
    rerank_async,
    scores_in_input_order,
)

__all__ = ["AgentMemReranker", "LangChainReranker"]

_INDEX = "_agentmem_index"


def _scores(returned: Sequence[Document], count: int) -> list[float]:
    """Scores by document position: the compressor's ``relevance_score`` where it gives
    one, else rank order; documents it dropped score below every kept one."""

    def score(doc: Document) -> float | None:
        given = doc.metadata.get("relevance_score")
        return float(given) if isinstance(given, (int, float)) else None

    def index(doc: Document) -> int:
        found = doc.metadata.get(_INDEX)
        return found if isinstance(found, int) else -1

    return scores_in_input_order(count, ((index(d), score(d)) for d in returned))


class LangChainReranker:
    """A LangChain ``BaseDocumentCompressor`` as a core ``Reranker``.

    Example::

        from langchain_community.document_compressors import FlashrankRerank
        from agentmem_plugins import Memory

        memory = Memory(path="./mem", reranker=LangChainReranker(FlashrankRerank()))
    """

    def __init__(self, compressor: BaseDocumentCompressor, *, name: str | None = None) -> None:
        if not isinstance(compressor, BaseDocumentCompressor):
            raise TypeError(
                "compressor must be a langchain_core BaseDocumentCompressor, "
                f"got {type(compressor).__name__}"
            )
        self.compressor = compressor
        cls = type(compressor)
        self._name = name or f"langchain:{cls.__module__}.{cls.__qualname__}"

    @property
    def name(self) -> str:
        return self._name

    @staticmethod
    def _documents(documents: Sequence[str]) -> list[Document]:
        return [Document(page_content=d, metadata={_INDEX: i}) for i, d in enumerate(documents)]

    def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        out = self.compressor.compress_documents(self._documents(documents), query)
        return _scores(out, len(documents))

    async def arerank(self, query: str, documents: Sequence[str]) -> list[float]:
        out = await self.compressor.acompress_documents(self._documents(documents), query)
        return _scores(out, len(documents))

    def __repr__(self) -> str:
        return f"LangChainReranker(name={self._name!r})"


class AgentMemReranker(BaseDocumentCompressor):
    """A core reranker (or spec such as ``"fastembed:./cross-encoder"``) as a LangChain
    document compressor: documents come back best first, at most ``top_n``, each with
    ``metadata["relevance_score"]``.

    Example::

        compressor = AgentMemReranker(reranker="fastembed", top_n=3)
        best = compressor.compress_documents(docs, "where does Alice live?")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: Any
    top_n: int | None = None

    def __init__(self, reranker: Reranker | str, top_n: int | None = None, **kwargs: Any) -> None:
        super().__init__(reranker=as_reranker(reranker), top_n=top_n, **kwargs)

    def _ordered(self, documents: Sequence[Document], scores: list[float]) -> list[Document]:
        order = sorted(range(len(documents)), key=lambda i: scores[i], reverse=True)
        return [
            Document(
                page_content=documents[i].page_content,
                metadata={**documents[i].metadata, "relevance_score": scores[i]},
                id=documents[i].id,
            )
            for i in order[: self.top_n]
        ]

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        texts = [d.page_content for d in documents]
        return self._ordered(documents, self.reranker.rerank(query, texts))

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        texts = [d.page_content for d in documents]
        return self._ordered(documents, await rerank_async(self.reranker, query, texts))

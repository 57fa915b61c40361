"""Reranker bridges: a LangChain document compressor as the core's reranker, and back."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from langchain_agentmem import AgentMemReranker, LangChainReranker
from langchain_core.callbacks import Callbacks
from langchain_core.documents import Document
from langchain_core.documents.compressor import BaseDocumentCompressor

from agentmem_plugins import AsyncMemory


class KeepWithWord(BaseDocumentCompressor):
    """A LangChain reranker: keeps documents containing ``word``, shortest first, scored."""

    word: str

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        kept = [d for d in documents if self.word in d.page_content]
        kept.sort(key=lambda d: len(d.page_content))
        return [
            Document(page_content=d.page_content, metadata={**d.metadata, "relevance_score": 10 - r})  # noqa: E501
            for r, d in enumerate(kept)
        ]


class ShortestFirst:
    name = "shortest"

    def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        return [-float(len(d)) for d in documents]


async def test_langchain_compressor_reranks_core_search(tmp_path) -> None:
    reranker = LangChainReranker(KeepWithWord(word="tea"))
    assert reranker.rerank("q", ["tea pot", "coffee", "tea"]) == [9.0, 8.0, 10.0]  # dropped: floor
    assert await reranker.arerank("q", ["tea pot", "coffee", "tea"]) == [9.0, 8.0, 10.0]
    async with AsyncMemory(path=tmp_path / "s", embedder="hash", reranker=reranker) as memory:
        await memory.add_many(
            [{"text": t, "user_id": "u"} for t in ["green tea with honey", "coffee", "tea"]]
        )
        hits = await memory.search("tea", user_id="u", rerank=True, limit=2)
        assert [h.text for h in hits] == ["tea", "green tea with honey"]
    with pytest.raises(TypeError, match="BaseDocumentCompressor"):
        LangChainReranker(object())  # type: ignore[arg-type]


async def test_core_reranker_as_langchain_compressor(tiny_cross_encoder_dir) -> None:
    docs = [Document(page_content=t, id=str(i)) for i, t in enumerate(["a long text", "ab", "abc"])]
    compressor = AgentMemReranker(ShortestFirst(), top_n=2)
    out = compressor.compress_documents(docs, "q")
    assert [d.page_content for d in out] == ["ab", "abc"]
    assert out[0].metadata["relevance_score"] == -2.0 and out[0].id == "1"
    again = await compressor.acompress_documents(docs, "q")
    assert [d.page_content for d in again] == ["ab", "abc"]
    real = AgentMemReranker(f"fastembed:{tiny_cross_encoder_dir}")
    best = real.compress_documents(
        [Document(page_content="Bob plays chess"), Document(page_content="Alice lives in Paris")],
        "where does alice live",
    )
    assert best[0].page_content == "Alice lives in Paris"

"""The offline ``"hash"`` embedder as LangChain ``Embeddings`` (for Mem0's langchain provider).

Uses the project's bridge ``langchain_agentmem.embeddings.AgentMemEmbeddings`` when it
is importable, else this tiny equivalent: same vectors (``HashEmbedder``, 256-d).
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings


class HashLangChainEmbeddings(Embeddings):
    def __init__(self) -> None:
        from agentmem_plugins.embeddings import HashEmbedder

        self._embedder = HashEmbedder()
        self.dim = self._embedder.dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_documents(list(texts)).astype(float).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._embedder.embed_query(text).astype(float).tolist()


def hash_embeddings() -> tuple[Any, str]:
    """``(LangChain Embeddings over "hash", which class it is)``."""
    try:
        from langchain_agentmem.embeddings import AgentMemEmbeddings

        emb = AgentMemEmbeddings("hash")
        return emb, "langchain_agentmem.embeddings.AgentMemEmbeddings('hash')"
    except Exception:  # the bridge is not there (yet): the local equivalent
        return HashLangChainEmbeddings(), "benchmarks._lc_embeddings.HashLangChainEmbeddings"

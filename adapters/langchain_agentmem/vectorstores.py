"""``AgentMemVectorStore``: a LangChain ``VectorStore`` over the agentmem core.

Documents map one-to-one onto core memories: ``page_content`` -> text, ``metadata`` ->
metadata (stored and returned unchanged, no extra keys), ``id`` -> id (an explicit id
makes the write an idempotent upsert). All behaviour (batching, filters, scoring) is the
core's; this module maps types.

**Scope.** Core writes need a scope, and reads never cross scopes, so a vector store
lives in one: ``agent_id="langchain"`` unless you pass ``user_id=``, ``agent_id=`` and/or
``run_id=``. Two stores on one memory with different scopes are separate collections;
ids are unique across the whole memory, so reusing one id in another scope is a
``ValueError``.

**Scores.** ``similarity_search_with_score`` returns the core's cosine similarity
(higher is better, in [-1, 1]); relevance scores map it to [0, 1] as ``(1 + s) / 2``.
With ``mode="hybrid"`` (vector + full text, fused by reciprocal rank) the score is the
fusion score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from agentmem_plugins import AsyncMemory, Memory
from agentmem_plugins.embeddings import Embedder, embed_query_async
from agentmem_plugins.loop_bridge import CoreRunner, as_runner

from ._documents import make_scope, scored_documents
from ._vectorstore_calls import add_call, delete_call, get_call, mmr_call, search_call
from .embeddings import AgentMemEmbeddings, LangChainEmbedder, to_core_embedder

if TYPE_CHECKING:
    from .retrievers import AgentMemRetriever

__all__ = ["DEFAULT_SCOPE", "AgentMemVectorStore"]

#: The scope of a vector store given no ``user_id``/``agent_id``/``run_id``.
DEFAULT_SCOPE = {"agent_id": "langchain"}


def _check_kwargs(method: str, kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise TypeError(f"{method}() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")


class AgentMemVectorStore(VectorStore):
    """LangChain vector store on agentmem: SQL + LanceDB, durable, scoped, filterable.

    Example::

        from langchain_core.documents import Document
        from langchain_agentmem import AgentMemVectorStore, AgentMemEmbeddings

        store = AgentMemVectorStore(embedding=AgentMemEmbeddings("hash"), path="./vs")
        store.add_documents([Document("Alice likes green tea", metadata={"k": 1})], ids=["a"])
        store.similarity_search("tea", k=1, filter={"k": {"$gte": 1}})

    Build it over LangChain ``Embeddings`` (``embedding=``, plus ``path=`` and any other
    ``MemoryConfig`` field) or over an existing core memory (``memory=`` an
    ``AsyncMemory`` or ``Memory``, which the store then does not close). Filters take the
    core's grammar or the Mongo-style ``$eq``/``$gt``/``$in``/``$and``/... spelling.
    """

    def __init__(
        self,
        embedding: Embeddings | None = None,
        *,
        memory: AsyncMemory | Memory | None = None,
        path: str | Path | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        **config: Any,
    ) -> None:
        if (embedding is None) == (memory is None):
            raise ValueError(
                "pass embedding= (a LangChain Embeddings; a new store is built at path=) "
                "or memory= (an existing AsyncMemory or Memory), exactly one of them"
            )
        if memory is not None and (path is not None or config):
            raise ValueError("path= and config fields apply only when building from embedding=")
        self.scope = make_scope(user_id, agent_id, run_id, DEFAULT_SCOPE)
        build: dict[str, Any] = dict(config)
        if embedding is not None:
            build["embedder"] = to_core_embedder(embedding)
            if path is not None:
                build["path"] = path
        self._runner: CoreRunner = as_runner(memory, **build)
        self._embedding = embedding

    # --- plumbing ----------------------------------------------------------------------

    @property
    def memory(self) -> AsyncMemory | Memory:
        """The core memory behind this store."""
        return self._runner.memory

    @property
    def embeddings(self) -> Embeddings | None:
        if self._embedding is not None:
            return self._embedding
        core = self._runner.core.embedder
        if core is None:
            return None
        return core.embeddings if isinstance(core, LangChainEmbedder) else AgentMemEmbeddings(core)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return lambda similarity: (1.0 + similarity) / 2.0

    def close(self) -> None:
        """Close the memory if this store built it; a wrapped memory stays open."""
        self._runner.close()

    async def aclose(self) -> None:
        await self._runner.aclose()

    def __enter__(self) -> AgentMemVectorStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _embedder(self) -> Any:
        embedder = self._runner.core.embedder
        if embedder is None:
            raise ValueError(
                "max marginal relevance search needs an embedder; this memory has none"
            )
        return embedder

    # --- writes ------------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Store ``texts`` (one batch, one embedding call); an existing id is replaced."""
        _check_kwargs("add_texts", kwargs)
        return self._runner.run(add_call(self.scope, texts, metadatas, ids))

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        _check_kwargs("aadd_texts", kwargs)
        return await self._runner.arun(add_call(self.scope, texts, metadatas, ids))

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete these ids (unknown ones are skipped); ``ids=None`` deletes the whole
        scope, or only the documents matching ``filter=``."""
        flt = kwargs.pop("filter", None)
        _check_kwargs("delete", kwargs)
        self._runner.run(delete_call(self.scope, ids, flt))
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        flt = kwargs.pop("filter", None)
        _check_kwargs("adelete", kwargs)
        await self._runner.arun(delete_call(self.scope, ids, flt))
        return True

    # --- reads -------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return self._runner.run(get_call(self.scope, ids))

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return await self._runner.arun(get_call(self.scope, ids))

    def similarity_search_with_score(
        self, query: str, k: int = 4, *, filter: Any = None, mode: str = "vector", **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """``(document, score)`` best first; see the module doc for what the score is."""
        _check_kwargs("similarity_search_with_score", kwargs)
        hits = self._runner.run(search_call(self.scope, query=query, k=k, filter=filter, mode=mode))
        return scored_documents(hits)

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, *, filter: Any = None, mode: str = "vector", **kwargs: Any
    ) -> list[tuple[Document, float]]:
        _check_kwargs("asimilarity_search_with_score", kwargs)
        call = search_call(self.scope, query=query, k=k, filter=filter, mode=mode)
        return scored_documents(await self._runner.arun(call))

    def similarity_search(
        self, query: str, k: int = 4, *, filter: Any = None, mode: str = "vector", **kwargs: Any
    ) -> list[Document]:
        _check_kwargs("similarity_search", kwargs)
        return [d for d, _ in self.similarity_search_with_score(query, k, filter=filter, mode=mode)]

    async def asimilarity_search(
        self, query: str, k: int = 4, *, filter: Any = None, mode: str = "vector", **kwargs: Any
    ) -> list[Document]:
        _check_kwargs("asimilarity_search", kwargs)
        pairs = await self.asimilarity_search_with_score(query, k, filter=filter, mode=mode)
        return [d for d, _ in pairs]

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        if kwargs.get("mode", "vector") != "vector":
            raise ValueError("relevance scores are defined for mode='vector' only")
        return super()._similarity_search_with_relevance_scores(query, k, **kwargs)

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        if kwargs.get("mode", "vector") != "vector":
            raise ValueError("relevance scores are defined for mode='vector' only")
        return await super()._asimilarity_search_with_relevance_scores(query, k, **kwargs)

    def similarity_search_with_score_by_vector(
        self, embedding: Sequence[float], k: int = 4, *, filter: Any = None
    ) -> list[tuple[Document, float]]:
        hits = self._runner.run(search_call(self.scope, vector=embedding, k=k, filter=filter))
        return scored_documents(hits)

    async def asimilarity_search_with_score_by_vector(
        self, embedding: Sequence[float], k: int = 4, *, filter: Any = None
    ) -> list[tuple[Document, float]]:
        call = search_call(self.scope, vector=embedding, k=k, filter=filter)
        hits = await self._runner.arun(call)
        return scored_documents(hits)

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, *, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        _check_kwargs("similarity_search_by_vector", kwargs)
        return [
            d for d, _ in self.similarity_search_with_score_by_vector(embedding, k, filter=filter)
        ]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, *, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        _check_kwargs("asimilarity_search_by_vector", kwargs)
        pairs = await self.asimilarity_search_with_score_by_vector(embedding, k, filter=filter)
        return [d for d, _ in pairs]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        *,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        _check_kwargs("max_marginal_relevance_search_by_vector", kwargs)
        return self._runner.run(mmr_call(self.scope, embedding, k, fetch_k, lambda_mult, filter))

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        *,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        _check_kwargs("amax_marginal_relevance_search_by_vector", kwargs)
        call = mmr_call(self.scope, embedding, k, fetch_k, lambda_mult, filter)
        return await self._runner.arun(call)

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        *,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        """``k`` documents relevant to ``query`` yet diverse (``lambda_mult`` 1: relevance
        only, 0: diversity only), picked from the ``fetch_k`` nearest."""
        _check_kwargs("max_marginal_relevance_search", kwargs)
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        vector = np.asarray(self._embedder().embed_query(query), dtype=float).reshape(-1).tolist()
        return self.max_marginal_relevance_search_by_vector(
            vector, k, fetch_k, lambda_mult, filter=filter
        )

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        *,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        _check_kwargs("amax_marginal_relevance_search", kwargs)
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        vector = await _aembed_query(self._embedder(), query)
        return await self.amax_marginal_relevance_search_by_vector(
            vector, k, fetch_k, lambda_mult, filter=filter
        )

    def search(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        """As ``VectorStore.search``, plus ``search_type="hybrid"``."""
        if search_type == "hybrid":
            return self.similarity_search(query, mode="hybrid", **kwargs)
        return super().search(query, search_type, **kwargs)

    async def asearch(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        if search_type == "hybrid":
            return await self.asimilarity_search(query, mode="hybrid", **kwargs)
        return await super().asearch(query, search_type, **kwargs)

    # --- construction ------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> AgentMemVectorStore:
        """A new store (``path=``, scope and config fields in ``kwargs``) holding ``texts``."""
        store = cls(embedding=embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> AgentMemVectorStore:
        store = cls(embedding=embedding, **kwargs)
        await store.aadd_texts(texts, metadatas, ids=ids)
        return store

    def as_retriever(self, **kwargs: Any) -> AgentMemRetriever:  # type: ignore[override]
        """An :class:`AgentMemRetriever` (with a real ``k`` field) over this store.

        Takes the retriever's fields (``k``, ``search_type``, ``filter``, ...) or the
        generic ``search_kwargs={"k": ...}`` form.
        """
        from .retrievers import AgentMemRetriever

        tags = kwargs.pop("tags", None) or self._get_retriever_tags()
        return AgentMemRetriever(vectorstore=self, tags=tags, **kwargs)


async def _aembed_query(embedder: Embedder, text: str) -> list[float]:
    out = await embed_query_async(embedder, text)
    return np.asarray(out, dtype=float).reshape(-1).tolist()

"""``AgentMemRetriever``: a LangChain retriever over :class:`AgentMemVectorStore`.

Unlike the generic ``VectorStoreRetriever`` (whose constructor ignores ``k``), every
search setting is a real, validated field, and each can be overridden per call:
``retriever.invoke("tea", k=2, filter={"topic": "drinks"})``.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever, LangSmithRetrieverParams
from pydantic import ConfigDict, Field, model_validator

from .vectorstores import AgentMemVectorStore

__all__ = ["AgentMemRetriever", "SearchType"]

SearchType = Literal["similarity", "similarity_score_threshold", "mmr", "hybrid"]
_SETTINGS = ("k", "filter", "score_threshold", "fetch_k", "lambda_mult")
_IGNORED_CALL_KWARGS = ("verbose",)  # passed along by BaseRetriever.invoke


class AgentMemRetriever(BaseRetriever):
    """Retrieve documents from an :class:`AgentMemVectorStore`.

    Example::

        retriever = AgentMemRetriever(vectorstore=store, k=3, search_type="hybrid")
        docs = retriever.invoke("what does alice drink?")

    ``search_type``: ``"similarity"`` (cosine), ``"similarity_score_threshold"`` (only
    hits with relevance ``(1 + cosine) / 2 >= score_threshold``), ``"mmr"`` (diverse:
    ``k`` of the ``fetch_k`` nearest, ``lambda_mult`` weighing relevance against
    diversity) or ``"hybrid"`` (vector + full text fused by reciprocal rank).
    ``search_kwargs={...}`` is accepted too, for code written against ``as_retriever``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    vectorstore: AgentMemVectorStore
    k: int = Field(4, ge=1, le=10_000, description="how many documents to return")
    search_type: SearchType = "similarity"
    filter: dict[str, Any] | None = Field(None, description="metadata filter")
    score_threshold: float | None = Field(None, ge=0.0, le=1.0)
    fetch_k: int = Field(20, ge=1, le=10_000, description="MMR candidates")
    lambda_mult: float = Field(0.5, ge=0.0, le=1.0, description="MMR: 1 relevance, 0 diversity")

    @model_validator(mode="before")
    @classmethod
    def _unpack_search_kwargs(cls, data: Any) -> Any:
        if isinstance(data, dict) and "search_kwargs" in data:
            data = dict(data)
            extra = data.pop("search_kwargs") or {}
            unknown = set(extra) - set(_SETTINGS)
            if unknown:
                raise ValueError(
                    f"unknown search_kwargs {sorted(unknown)}; use {', '.join(_SETTINGS)}"
                )
            data = {**extra, **data}
        return data

    @model_validator(mode="after")
    def _threshold_needs_value(self) -> AgentMemRetriever:
        if self.search_type == "similarity_score_threshold" and self.score_threshold is None:
            raise ValueError("search_type='similarity_score_threshold' needs score_threshold=")
        return self

    def _get_ls_params(self, **kwargs: Any) -> LangSmithRetrieverParams:
        params = super()._get_ls_params(**kwargs)
        params["ls_vector_store_provider"] = type(self.vectorstore).__name__
        embeddings = self.vectorstore.embeddings
        if embeddings is not None:
            params["ls_embedding_provider"] = type(embeddings).__name__
        return params

    def _settings(self, overrides: dict[str, Any]) -> dict[str, Any]:
        unknown = set(overrides) - set(_SETTINGS) - set(_IGNORED_CALL_KWARGS)
        if unknown:
            raise TypeError(
                f"unexpected retriever arguments {sorted(unknown)}; use {', '.join(_SETTINGS)}"
            )
        changes = {k: v for k, v in overrides.items() if k in _SETTINGS}
        # validated like the constructor's arguments
        return self.model_validate({**self._fields_dict(), **changes})._fields_dict()

    def _fields_dict(self) -> dict[str, Any]:
        fields = dict(vectorstore=self.vectorstore, search_type=self.search_type)
        return {**fields, **{name: getattr(self, name) for name in _SETTINGS}}

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        s = self._settings(kwargs)
        store, k, flt = self.vectorstore, s["k"], s["filter"]
        if s["search_type"] == "similarity":
            return store.similarity_search(query, k, filter=flt)
        if s["search_type"] == "hybrid":
            return store.similarity_search(query, k, filter=flt, mode="hybrid")
        if s["search_type"] == "mmr":
            return store.max_marginal_relevance_search(
                query, k, s["fetch_k"], s["lambda_mult"], filter=flt
            )
        pairs = store.similarity_search_with_relevance_scores(
            query, k, filter=flt, score_threshold=s["score_threshold"]
        )
        return [doc for doc, _ in pairs]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        s = self._settings(kwargs)
        store, k, flt = self.vectorstore, s["k"], s["filter"]
        if s["search_type"] == "similarity":
            return await store.asimilarity_search(query, k, filter=flt)
        if s["search_type"] == "hybrid":
            return await store.asimilarity_search(query, k, filter=flt, mode="hybrid")
        if s["search_type"] == "mmr":
            return await store.amax_marginal_relevance_search(
                query, k, s["fetch_k"], s["lambda_mult"], filter=flt
            )
        pairs = await store.asimilarity_search_with_relevance_scores(
            query, k, filter=flt, score_threshold=s["score_threshold"]
        )
        return [doc for doc, _ in pairs]

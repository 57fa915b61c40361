"""Reranker bridges, both ways.

* :class:`LlamaIndexReranker`: a LlamaIndex node postprocessor that reranks (e.g.
  ``SentenceTransformerRerank``, ``CohereRerank``, ``LLMRerank``) as the core's
  ``Reranker``: ``Memory(reranker=LlamaIndexReranker(...))``;
* :class:`AgentMemRerank`: the core's reranker (``"fastembed:<model or folder>"``, your
  own) as a LlamaIndex ``BaseNodePostprocessor``, for query engines' ``node_postprocessors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from agentmem_plugins.rerankers import (
    Reranker,
    as_reranker,
    rerank_async,
    scores_in_input_order,
)

__all__ = ["AgentMemRerank", "LlamaIndexReranker"]


def _scores(returned: Sequence[NodeWithScore], count: int) -> list[float]:
    """The postprocessor's score per input position (rank order where it gives none);
    nodes it dropped score below every kept one."""
    return scores_in_input_order(
        count,
        (
            (int(item.node.node_id) if item.node.node_id.isdigit() else -1, item.score)
            for item in returned
        ),
    )


class LlamaIndexReranker:
    """A LlamaIndex reranking postprocessor as the core's ``Reranker``.

    Example::

        from llama_index.core.postprocessor import SentenceTransformerRerank
        from agentmem_plugins import Memory

        memory = Memory(path="./mem", reranker=LlamaIndexReranker(SentenceTransformerRerank()))
    """

    def __init__(self, postprocessor: BaseNodePostprocessor, *, name: str | None = None) -> None:
        if not isinstance(postprocessor, BaseNodePostprocessor):
            raise TypeError(
                "postprocessor must be a LlamaIndex BaseNodePostprocessor, "
                f"got {type(postprocessor).__name__}"
            )
        self.postprocessor = postprocessor
        cls = type(postprocessor)
        self._name = name or f"llama_index:{cls.__module__}.{cls.__qualname__}"

    @property
    def name(self) -> str:
        return self._name

    @staticmethod
    def _nodes(documents: Sequence[str]) -> list[NodeWithScore]:
        return [NodeWithScore(node=TextNode(text=d, id_=str(i))) for i, d in enumerate(documents)]

    def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        out = self.postprocessor.postprocess_nodes(self._nodes(documents), query_str=query)
        return _scores(out, len(documents))

    async def arerank(self, query: str, documents: Sequence[str]) -> list[float]:
        out = await self.postprocessor.apostprocess_nodes(self._nodes(documents), query_str=query)
        return _scores(out, len(documents))

    def __repr__(self) -> str:
        return f"LlamaIndexReranker(name={self._name!r})"


class AgentMemRerank(BaseNodePostprocessor):
    """The core's reranker as a LlamaIndex node postprocessor: nodes best first, at most
    ``top_n``, scored by the reranker.

    Example::

        rerank = AgentMemRerank(reranker="fastembed", top_n=3)
        engine = index.as_query_engine(similarity_top_k=20, node_postprocessors=[rerank])
    """

    top_n: int | None = Field(default=None, description="nodes to keep (None: all)")
    _reranker: Reranker = PrivateAttr()

    def __init__(self, reranker: Reranker | str, top_n: int | None = None, **kwargs: Any) -> None:
        core = as_reranker(reranker)
        super().__init__(top_n=top_n, **kwargs)
        self._reranker = core

    @classmethod
    def class_name(cls) -> str:
        return "AgentMemRerank"

    @property
    def reranker(self) -> Reranker:
        return self._reranker

    def _ordered(self, nodes: list[NodeWithScore], scores: list[float]) -> list[NodeWithScore]:
        order = sorted(range(len(nodes)), key=lambda i: scores[i], reverse=True)
        return [NodeWithScore(node=nodes[i].node, score=scores[i]) for i in order[: self.top_n]]

    @staticmethod
    def _query(query_bundle: QueryBundle | None) -> str:
        if query_bundle is None:
            raise ValueError("AgentMemRerank needs a query (query_bundle or query_str)")
        return query_bundle.query_str

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        return self._ordered(nodes, self._reranker.rerank(self._query(query_bundle), texts))

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        query = self._query(query_bundle)
        texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        return self._ordered(nodes, await rerank_async(self._reranker, query, texts))

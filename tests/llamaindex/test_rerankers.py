"""Reranker bridges: a LlamaIndex node postprocessor as the core's reranker, and back."""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.memory.agentmem import AgentMemRerank, LlamaIndexReranker

from agentmem_plugins import AsyncMemory


class ShortestWithWord(BaseNodePostprocessor):
    word: str

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        kept = [n for n in nodes if self.word in n.node.get_content()]
        kept.sort(key=lambda n: len(n.node.get_content()))
        return [NodeWithScore(node=n.node, score=10.0 - r) for r, n in enumerate(kept)]


class ShortestFirst:
    name = "shortest"

    def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        return [-float(len(d)) for d in documents]


async def test_llamaindex_postprocessor_reranks_core_search(tmp_path) -> None:
    reranker = LlamaIndexReranker(ShortestWithWord(word="tea"))
    assert reranker.rerank("q", ["tea pot", "coffee", "tea"]) == [9.0, 8.0, 10.0]
    assert await reranker.arerank("q", ["tea pot", "coffee", "tea"]) == [9.0, 8.0, 10.0]
    async with AsyncMemory(path=tmp_path / "s", embedder="hash", reranker=reranker) as memory:
        await memory.add_many(
            [{"text": t, "user_id": "u"} for t in ["green tea with honey", "coffee", "tea"]]
        )
        hits = await memory.search("tea", user_id="u", rerank=True, limit=2)
        assert [h.text for h in hits] == ["tea", "green tea with honey"]


async def test_core_reranker_as_llamaindex_postprocessor() -> None:
    nodes = [NodeWithScore(node=TextNode(text=t), score=0.5) for t in ["a long text", "ab", "abc"]]
    rerank = AgentMemRerank(ShortestFirst(), top_n=2)
    out = rerank.postprocess_nodes(nodes, query_str="q")
    assert [n.node.get_content() for n in out] == ["ab", "abc"] and out[0].score == -2.0
    out = await rerank.apostprocess_nodes(nodes, query_str="q")
    assert [n.node.get_content() for n in out] == ["ab", "abc"]

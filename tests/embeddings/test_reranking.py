"""Reranking: fastembed's TextCrossEncoder on the project's tiny cross-encoder, through
``search(rerank=True)`` and the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmem_plugins import AsyncMemory, ConfigError, EmbedderError, InvalidInputError
from agentmem_plugins.rerankers import FastEmbedReranker, Reranker, make_reranker


def test_tiny_cross_encoder_loads_through_fastembed(tiny_cross_encoder_dir: Path) -> None:
    reranker = FastEmbedReranker(model_path=tiny_cross_encoder_dir)
    assert isinstance(reranker, Reranker)
    scores = reranker.rerank(
        "where does alice live", ["Bob plays chess", "Alice lives in Paris", "nice weather"]
    )
    assert len(scores) == 3 and max(range(3), key=scores.__getitem__) == 1
    assert reranker.rerank("q", []) == []
    # named by content: the same files elsewhere give the same name
    assert make_reranker(f"fastembed:{tiny_cross_encoder_dir}").name == reranker.name


def test_bad_specs_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown value"):
        make_reranker("cohere")
    with pytest.raises(ConfigError, match="not a reranker"):
        make_reranker(42)  # type: ignore[arg-type]
    with pytest.raises(EmbedderError, match="lacks model.onnx"):
        make_reranker(f"fastembed:{tmp_path}")
    with pytest.raises(EmbedderError, match="does not know the cross-encoder"):
        FastEmbedReranker("no-such/cross-encoder")


class _Reversing:
    """A reranker preferring the shortest text: proves the order is the reranker's."""

    name = "shortest-first"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def rerank(self, query: str, documents: list[str]) -> list[float]:
        self.calls.append(len(documents))
        return [-float(len(d)) for d in documents]


async def test_search_rerank_reorders_the_candidates(tmp_path: Path) -> None:
    reranker = _Reversing()
    texts = [f"tea note {'x' * (30 - i)}" for i in range(30)]
    async with AsyncMemory(
        path=tmp_path / "s", embedder="hash", reranker=reranker, rerank_candidates=25
    ) as memory:
        await memory.add_many([{"text": t, "user_id": "u"} for t in texts])
        plain = await memory.search("tea note", user_id="u", limit=3)
        assert reranker.calls == []  # off unless asked
        hits = await memory.search("tea note", user_id="u", limit=3, rerank=True)
        assert reranker.calls == [25]  # rerank_candidates were fetched, then cut to limit
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert len(hits) == 3 and hits[0].score == -float(len(hits[0].text))
        assert len(hits[0].text) <= len(plain[0].text)
        # the threshold applies to the reranker's scores (the shortest text scores -10)
        kept = await memory.search("tea note", user_id="u", rerank=True, threshold=-11)
        assert [h.score for h in kept] == [-10.0, -11.0]


async def test_rerank_from_config_and_errors(tmp_path: Path, tiny_cross_encoder_dir: Path) -> None:
    spec = f"fastembed:{tiny_cross_encoder_dir}"
    async with AsyncMemory(path=tmp_path / "a", embedder="hash", reranker=spec, rerank=True) as m:
        await m.add_many(
            [{"text": t, "user_id": "u"} for t in ["Alice lives in Paris", "Bob plays chess"]]
        )
        hits = await m.search("where does alice live", user_id="u", mode="fulltext")
        assert hits[0].text == "Alice lives in Paris"
        assert (await m.search("chess", user_id="u", rerank=False))[0].score <= 1.0  # cosine
    async with AsyncMemory(path=tmp_path / "b", embedder="hash") as m:
        with pytest.raises(InvalidInputError, match="needs a reranker"):
            await m.search("x", user_id="u", rerank=True)
    async with AsyncMemory(path=tmp_path / "c", embedder="hash", reranker=spec) as m:
        with pytest.raises(InvalidInputError, match="needs a query string"):
            await m.search(vector=[0.1] * m.embedder.dim, user_id="u", rerank=True)

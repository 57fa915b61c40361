"""Length-bucketed embedding, hybrid fusion options and the full-text tokenizer options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentmem_plugins import AsyncMemory
from agentmem_plugins._fusion import fuse
from agentmem_plugins.embeddings import FastEmbedEmbedder
from agentmem_plugins.embeddings._buckets import embed_by_length


def test_buckets_are_sorted_by_length_and_the_order_restored() -> None:
    seen: list[list[str]] = []

    def embed(batch: list[str]) -> np.ndarray:
        seen.append(batch)
        return np.array([[len(t), 0.0] for t in batch], dtype=np.float32)

    texts = ["aaaa", "a", "aaaaaa", "aa", "aaa", "aaaaa"]
    out = embed_by_length(embed, texts, [len(t) for t in texts], batch_size=2)
    assert out[:, 0].tolist() == [len(t) for t in texts]
    assert seen == [["a", "aa"], ["aaa", "aaaa"], ["aaaaa", "aaaaaa"]]
    with pytest.raises(ValueError):
        embed_by_length(embed, texts, [1], batch_size=2)


def test_fastembed_bucketing_matches_one_text_at_a_time(tiny_model_dir: Path) -> None:
    emb = FastEmbedEmbedder(model_path=tiny_model_dir, batch_size=3)
    texts = ["short", "a much longer text about trains and weather in Porto", "mid text", "x"]
    assert emb.token_counts(texts)[1] > emb.token_counts(texts)[0]
    together = emb.embed_documents(texts)
    alone = np.stack([emb.embed_documents([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_fusion_methods() -> None:
    dense = [("a", 0.9), ("b", 0.8), ("c", 0.1)]
    sparse = [("b", 12.0), ("c", 3.0)]
    assert [i for i, _ in fuse(dense, sparse)] == ["b", "c", "a"]  # in both lists first
    assert [i for i, _ in fuse(dense, sparse, k=1, vector_weight=6.0)] == ["a", "b", "c"]
    scored = fuse(dense, sparse, method="score")
    assert scored[0] == ("b", pytest.approx(1.0 + 0.7 / 0.8))  # min-max normalised, summed
    assert scored[-1] == ("c", pytest.approx(0.0))
    with pytest.raises(ValueError, match="rrf"):
        fuse(dense, sparse, method="max")  # type: ignore[arg-type]


@pytest.mark.parametrize("stem, hits", [(True, 1), (False, 0)])
async def test_fulltext_stemming_option(tmp_path: Path, stem: bool, hits: int) -> None:
    async with AsyncMemory(path=tmp_path / "s", embedder="hash", fulltext_stem=stem) as memory:
        await memory.add_many([{"text": "she was running home", "user_id": "u"}])
        found = await memory.search("runs", user_id="u", mode="fulltext")
        assert len(found) == hits


async def test_hybrid_uses_the_configured_fusion(tmp_path: Path) -> None:
    texts = ["green tea every morning", "tea", "coffee and tea with milk"]
    orders = {}
    for method in ("rrf", "score"):
        async with AsyncMemory(
            path=tmp_path / method, embedder="hash", hybrid_fusion=method
        ) as memory:
            await memory.add_many([{"text": t, "user_id": "u"} for t in texts])
            hits = await memory.search("green tea", user_id="u", mode="hybrid")
            orders[method] = [h.score for h in hits]
    assert orders["score"][0] > 1.0 >= orders["rrf"][0]  # normalised scores add up to 2

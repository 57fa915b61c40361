"""Ranking done in the adapter: weighted hybrid fusion, MMR and exact top-k over given ids.

MMR and exact top-k use LlamaIndex's own functions, so their results match
``SimpleVectorStore`` on the same candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from llama_index.core.indices.query.embedding_utils import (
    get_top_k_embeddings,
    get_top_k_mmr_embeddings,
)

__all__ = ["exact_top_k", "mmr_top_k", "weighted_rrf"]

RRF_K = 60


def weighted_rrf(
    dense: Sequence[str], sparse: Sequence[str], *, alpha: float, k: int = RRF_K
) -> list[tuple[str, float]]:
    """Reciprocal rank fusion, the dense ranking weighted ``alpha`` and the text one ``1-alpha``.

    ``alpha`` follows LlamaIndex: 1 is pure vector search, 0 pure text search.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    scores: dict[str, float] = {}
    for weight, ranking in ((alpha, dense), (1.0 - alpha, sparse)):
        if weight == 0.0:
            continue
        for rank, memory_id in enumerate(ranking, start=1):
            scores[memory_id] = scores.get(memory_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)


def mmr_top_k(
    query: Sequence[float],
    vectors: Mapping[str, np.ndarray],
    ids: Sequence[str],
    *,
    k: int,
    threshold: float | None,
) -> list[tuple[str, float]]:
    """Maximal marginal relevance over the candidates ``ids`` (LlamaIndex's algorithm)."""
    ids = [i for i in ids if i in vectors]
    if not ids:
        return []
    scores, chosen = get_top_k_mmr_embeddings(
        list(query),
        [vectors[i].tolist() for i in ids],
        similarity_top_k=k,
        embedding_ids=ids,
        mmr_threshold=threshold,
    )
    return list(zip(chosen, scores, strict=True))


def exact_top_k(
    query: Sequence[float], vectors: Mapping[str, np.ndarray], ids: Sequence[str], *, k: int
) -> list[tuple[str, float]]:
    """Cosine top-k over exactly the candidates ``ids``."""
    ids = [i for i in ids if i in vectors]
    if not ids:
        return []
    scores, chosen = get_top_k_embeddings(
        list(query), [vectors[i].tolist() for i in ids], similarity_top_k=k, embedding_ids=ids
    )
    return list(zip(chosen, scores, strict=True))

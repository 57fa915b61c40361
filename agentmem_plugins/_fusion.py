"""Fusing a vector ranking and a full-text ranking into one (hybrid search).

Two ways, both measured on the retrieval benchmark (BENCHMARKS.md, retrieval quality):

* ``"rrf"``: reciprocal rank fusion, ``w / (k + rank)`` summed over the rankings; only
  ranks matter, so BM25's unbounded scores and cosine's [-1, 1] need no calibration;
* ``"score"``: each ranking's scores min-max normalised to [0, 1] within the list,
  then ``w * vector + text``; keeps how much better the first hit is than the next.

``vector_weight`` (``w``) scales the vector side against the full-text side (weight 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = ["FusionMethod", "fuse"]

FusionMethod = Literal["rrf", "score"]


def fuse(
    dense: Sequence[tuple[str, float]],
    sparse: Sequence[tuple[str, float]],
    *,
    method: FusionMethod = "rrf",
    k: int = 60,
    vector_weight: float = 1.0,
) -> list[tuple[str, float]]:
    """``(id, fused score)`` best first, from two ``(id, score)`` rankings (best first).

    Example::

        >>> fuse([("a", 0.9), ("b", 0.5)], [("b", 7.0)], k=60)[0][0]
        'b'
    """
    scores: dict[str, float] = {}
    for ranking, weight in ((dense, vector_weight), (sparse, 1.0)):
        if method == "rrf":
            for rank, (memory_id, _) in enumerate(ranking, start=1):
                scores[memory_id] = scores.get(memory_id, 0.0) + weight / (k + rank)
        elif method == "score":
            if not ranking:
                continue
            values = [s for _, s in ranking]
            low, span = min(values), max(values) - min(values)
            for memory_id, s in ranking:
                norm = (s - low) / span if span > 0 else 1.0
                scores[memory_id] = scores.get(memory_id, 0.0) + weight * norm
        else:
            raise ValueError(f"fusion method must be 'rrf' or 'score', got {method!r}")
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)

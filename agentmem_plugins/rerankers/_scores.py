"""Scores in input order from what a framework reranker returned (the bridges use it)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["scores_in_input_order"]


def scores_in_input_order(count: int, returned: Iterable[tuple[int, float | None]]) -> list[float]:
    """One score per input document, from ``(input index, score or None)`` pairs in the
    order a framework reranker returned them.

    A returned document without a score gets minus its rank (rank order kept); a document
    the reranker dropped scores below every kept one; unknown or repeated indexes are
    ignored.
    """
    scores: list[float | None] = [None] * count
    for rank, (index, score) in enumerate(returned):
        if 0 <= index < count and scores[index] is None:
            scores[index] = float(score) if score is not None else -float(rank)
    kept = [s for s in scores if s is not None]
    floor = (min(kept) if kept else 0.0) - 1.0
    return [floor if s is None else s for s in scores]

"""The ``Reranker`` protocol: what the core needs from a reranking model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["Reranker"]


@runtime_checkable
class Reranker(Protocol):
    """Scores how well each document answers a query (higher is better).

    A cross-encoder reads the query and a document together, so it judges relevance
    better than comparing two separately made vectors, at the price of one model run
    per candidate: the core reranks a search's top candidates only.

    ``rerank`` is blocking: the core runs it in a worker thread, in the same place as
    embedding. A reranker may also define ``async def arerank(query, documents)`` (a
    remote API); the core then awaits that instead.
    """

    @property
    def name(self) -> str: ...

    def rerank(self, query: str, documents: Sequence[str]) -> list[float]: ...

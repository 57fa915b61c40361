"""The ``Reranker`` protocol: what the core needs from a reranking model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Protocol, runtime_checkable

__all__ = ["Reranker", "rerank_async"]


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


async def rerank_async(
    reranker: Reranker, query: str, documents: Sequence[str], executor: Executor | None = None
) -> list[float]:
    """``reranker``'s scores for ``documents``, awaited without blocking the event loop.

    The one dispatch for the optional ``arerank``: awaited when the reranker has it;
    otherwise ``rerank`` runs in ``executor``, or with ``asyncio.to_thread`` when it is
    ``None``. The scores are returned as the reranker gave them; callers check them.
    """
    native = getattr(reranker, "arerank", None)
    if native is not None:
        out: list[float] = await native(query, list(documents))
        return out
    if executor is None:
        return await asyncio.to_thread(reranker.rerank, query, list(documents))
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, reranker.rerank, query, list(documents))

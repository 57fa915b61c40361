"""What each :class:`~.vectorstores.AgentMemVectorStore` method asks of the core.

Each function checks its arguments, maps them onto the core's, and returns a call on an
``AsyncMemory`` that the store's runner then runs, sync or async; so the two halves of
the LangChain API share one implementation and differ only at the awaited call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from agentmem_plugins import AsyncMemory, MemoryItem

from ._documents import to_document
from ._filters import to_core_filter

__all__ = ["add_call", "delete_call", "get_call", "mmr_call", "search_call"]

_MODES = ("vector", "fulltext", "hybrid")


def _check_mode(mode: Any) -> str:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    return mode


def add_call(
    scope: dict[str, Any],
    texts: Iterable[str],
    metadatas: list[dict] | None,
    ids: Sequence[str | None] | None,
) -> Callable[[AsyncMemory], Any]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of str, not a single str")
    texts = list(texts)
    if metadatas is not None and len(metadatas) != len(texts):
        raise ValueError(f"got {len(metadatas)} metadatas for {len(texts)} texts")
    if ids is not None and len(ids) != len(texts):
        raise ValueError(f"got {len(ids)} ids for {len(texts)} texts")
    items = [
        {
            "text": text,
            "metadata": metadatas[i] if metadatas is not None else None,
            **({"id": ids[i]} if ids is not None and ids[i] is not None else {}),
            **scope,
        }
        for i, text in enumerate(texts)
    ]
    return lambda m: m.add_many(items)


def search_call(
    scope: dict[str, Any],
    *,
    query: str | None = None,
    vector: Sequence[float] | None = None,
    k: int,
    filter: Any = None,
    mode: str = "vector",
) -> Callable[[AsyncMemory], Any]:
    if query is not None and not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    kwargs: dict[str, Any] = {
        "limit": k,
        "filters": to_core_filter(filter),
        "mode": _check_mode(mode),
        **scope,
    }
    if vector is not None:
        kwargs["vector"] = [float(x) for x in vector]
    return lambda m: m.search(query, **kwargs)


def delete_call(
    scope: dict[str, Any], ids: list[str] | None, filter: Any
) -> Callable[[AsyncMemory], Any]:
    if ids is None:
        flt = to_core_filter(filter)
        return lambda m: m.delete_all(**scope, filters=flt)
    if isinstance(ids, str):
        raise TypeError("ids must be a list of str, not a single str")
    wanted = list(ids)

    # only this store's documents, never another scope's with the same id
    return lambda m: m.delete_many(wanted, **scope)


def get_call(scope: dict[str, Any], ids: Sequence[str]) -> Callable[[AsyncMemory], Any]:
    if isinstance(ids, str):
        raise TypeError("ids must be a list of str, not a single str")
    wanted = list(ids)

    async def get(m: AsyncMemory) -> list[Document]:
        return [to_document(i) for i in await m.get_many(wanted, **scope)]

    return get


# Max marginal relevance: the ``fetch_k`` candidates' stored vectors come from the core
# (``get_vectors``), so nothing is re-embedded.


def mmr_call(
    scope: dict[str, Any],
    embedding: list[float],
    k: int,
    fetch_k: int,
    lambda_mult: float,
    filter: Any,
) -> Callable[[AsyncMemory], Any]:
    search = search_call(scope, vector=embedding, k=fetch_k, filter=filter)

    async def mmr(m: AsyncMemory) -> list[Document]:
        hits = await search(m)
        stored = await m.get_vectors([h.id for h in hits], **scope)
        return _mmr(embedding, hits, [stored[h.id] for h in hits], k, lambda_mult)

    return mmr


def _mmr(
    embedding: Sequence[float], hits: list[MemoryItem], vectors: Any, k: int, lambda_mult: float
) -> list[Document]:
    if not hits:
        return []
    chosen = maximal_marginal_relevance(
        np.asarray(embedding, dtype=np.float32),
        np.asarray(vectors).tolist(),
        lambda_mult=lambda_mult,
        k=min(k, len(hits)),
    )
    return [to_document(hits[i]) for i in chosen]

"""``AgentMemVectorStore``: a LlamaIndex vector store kept in the agentmem core."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from agentmem_plugins import Memory, MemoryItem
from agentmem_plugins.embeddings import embed_query_async
from agentmem_plugins.loop_bridge import CoreRunner

from ._filters import to_core_filters
from ._nodes import item_to_node, node_to_input
from ._ranking import exact_top_k, mmr_top_k, weighted_rrf

__all__ = ["AgentMemVectorStore"]

DEFAULT_AGENT_ID = "llama_index"
_MODES = "default, text_search, hybrid, mmr"


class AgentMemVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store over the agentmem core (LanceDB + SQL, on disk).

    ``AgentMemVectorStore(path=...)`` opens (or creates) a store for vectors the pipeline
    computes (``embedder="none"``: the dimension is learned from the first batch); pass
    ``embedder="hash"`` or ``"fastembed:..."`` to let the store embed texts and query
    strings itself. ``AgentMemVectorStore(memory=core)`` works over an existing
    ``agentmem_plugins.Memory`` (sync and async methods) or ``AsyncMemory`` (async
    methods only) and sees what the core API and other adapters see.

    Nodes live in one scope (``user_id`` / ``agent_id`` / ``run_id``; default
    ``agent_id="llama_index"``): every read, delete and ``clear`` stays inside it. Query
    modes: default (vector), text_search (full text, BM25), hybrid (reciprocal rank
    fusion; ``alpha`` weights it, 1 = vector only) and mmr. Filters: see
    :mod:`llama_index.vector_stores.agentmem._filters`.

    Example::

        from llama_index.core import Document, StorageContext, VectorStoreIndex
        from llama_index.vector_stores.agentmem import AgentMemVectorStore

        store = AgentMemVectorStore(path="./index")
        index = VectorStoreIndex.from_documents(
            [Document(text="Paris is in France")],
            storage_context=StorageContext.from_defaults(vector_store=store),
        )
        print(index.as_retriever().retrieve("Where is Paris?")[0].text)
    """

    stores_text: bool = True
    flat_metadata: bool = False
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    mmr_prefetch_factor: float = Field(
        default=4.0, gt=0, description="MMR candidates fetched per result."
    )

    _runner: CoreRunner = PrivateAttr()
    _owned: Memory | None = PrivateAttr(default=None)

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        memory: Any = None,
        embedder: Any = "none",
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if (path is None) == (memory is None):
            raise ValueError("give either path= (a store folder) or memory= (a core memory)")
        if not (user_id or agent_id or run_id):
            agent_id = DEFAULT_AGENT_ID
        super().__init__(user_id=user_id, agent_id=agent_id, run_id=run_id, **kwargs)
        owned = Memory(path=path, embedder=embedder) if path is not None else None
        self._owned = owned
        self._runner = CoreRunner(owned if owned is not None else memory)

    @classmethod
    def class_name(cls) -> str:
        return "AgentMemVectorStore"

    @property
    def client(self) -> Any:
        """The core memory (``agentmem_plugins.Memory`` or ``AsyncMemory``)."""
        return self._runner.memory

    @property
    def scope(self) -> dict[str, Any]:
        scope = {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}
        return {k: v for k, v in scope.items() if v}

    def close(self) -> None:
        """Close the core memory if this store opened it (``path=``)."""
        if self._owned is not None:
            self._owned.close()

    # --- async API (the implementation) ------------------------------------------------

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Upsert nodes (same id again replaces); returns their ids in order."""
        need_vector = self._runner.core.embedder is None
        latest: dict[str, dict[str, Any]] = {}
        for node in nodes:  # one call may repeat an id: the last one wins, as in a dict
            item = node_to_input(
                node, self.scope, need_vector=need_vector, flat_metadata=self.flat_metadata
            )
            latest.pop(item["id"], None)
            latest[item["id"]] = item
        if latest:
            await self._runner.arun(lambda m: m.add_many(list(latest.values())))
        return [node.node_id for node in nodes]

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document ``ref_doc_id``."""
        ref_doc = {"ref_doc_id": ref_doc_id}
        await self._runner.arun(lambda m: m.delete_all(**self.scope, filters=ref_doc))

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the nodes with these ids and/or matching ``filters`` (all if neither)."""
        flt = to_core_filters(filters)
        if node_ids is None:
            await self._runner.arun(lambda m: m.delete_all(**self.scope, filters=flt))
            return
        ids = node_ids if flt is None else [i.id for i in await self._select(node_ids, flt)]
        if ids:
            await self._runner.arun(lambda m: m.delete_many(ids, **self.scope))

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Nodes by id (in the order given) and/or matching ``filters`` (all if neither)."""
        return [item_to_node(i) for i in await self._select(node_ids, to_core_filters(filters))]

    async def aclear(self) -> None:
        """Delete every node of this store's scope."""
        await self._runner.arun(lambda m: m.delete_all(**self.scope))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        flt = to_core_filters(query.filters)
        if query.doc_ids:
            docs = {"ref_doc_id": {"in": list(query.doc_ids)}}
            flt = docs if flt is None else {"AND": [flt, docs]}
        mode, k = query.mode, query.similarity_top_k
        if mode not in (
            VectorStoreQueryMode.DEFAULT,
            VectorStoreQueryMode.TEXT_SEARCH,
            VectorStoreQueryMode.HYBRID,
            VectorStoreQueryMode.MMR,
        ):
            raise ValueError(f"query mode {mode.value!r} is not supported; use one of {_MODES}")
        if query.node_ids:  # retrievers pass [] for "no restriction" to text-storing stores
            return await self._query_among(query, flt, **kwargs)
        search: dict[str, Any] = {**self.scope, "filters": flt}
        if mode == VectorStoreQueryMode.TEXT_SEARCH:
            text = _text(query)
            hits = await self._runner.arun(
                lambda m: m.search(text, mode="fulltext", limit=k, **search)
            )
            return _result([(h, h.score) for h in hits])
        if mode == VectorStoreQueryMode.HYBRID:
            return await self._hybrid(query, search)
        vector = await self._query_vector(query)
        if mode == VectorStoreQueryMode.MMR:
            prefetch = kwargs.get("mmr_prefetch_k") or max(
                k, int(k * kwargs.get("mmr_prefetch_factor", self.mmr_prefetch_factor))
            )
            hits = await self._runner.arun(
                lambda m: m.search(vector=vector, limit=prefetch, **search)
            )
            return await self._mmr(query, vector, hits, **kwargs)
        hits = await self._runner.arun(lambda m: m.search(vector=vector, limit=k, **search))
        return _result([(h, h.score) for h in hits])

    # --- query helpers -----------------------------------------------------------------

    async def _query_vector(self, query: VectorStoreQuery) -> list[float]:
        if query.query_embedding is not None:
            return list(query.query_embedding)
        embedder = self._runner.core.embedder
        if embedder is None or not query.query_str:
            raise ValueError(
                "this query needs query_embedding (the store has no embedder to embed "
                "query_str); the retriever's embed model normally provides it"
            )
        return list(map(float, await embed_query_async(embedder, query.query_str)))

    async def _hybrid(
        self, query: VectorStoreQuery, search: dict[str, Any]
    ) -> VectorStoreQueryResult:
        text = _text(query)
        top = query.hybrid_top_k or query.similarity_top_k
        vector = await self._query_vector(query)
        if query.alpha is None:  # the core's own hybrid: plain reciprocal rank fusion
            hits = await self._runner.arun(
                lambda m: m.search(
                    text,
                    vector=vector,
                    mode="hybrid",
                    limit=top,
                    **search,
                )
            )
            return _result([(h, h.score) for h in hits])
        dense = await self._runner.arun(
            lambda m: m.search(
                vector=vector,
                limit=query.similarity_top_k,
                **search,
            )
        )
        sparse = await self._runner.arun(
            lambda m: m.search(
                text,
                mode="fulltext",
                limit=query.sparse_top_k or query.similarity_top_k,
                **search,
            )
        )
        by_id = {h.id: h for h in (*dense, *sparse)}
        fused = weighted_rrf([h.id for h in dense], [h.id for h in sparse], alpha=query.alpha)
        return _result([(by_id[i], s) for i, s in fused[:top]])

    async def _mmr(
        self, query: VectorStoreQuery, vector: list[float], hits: list[MemoryItem], **kwargs: Any
    ) -> VectorStoreQueryResult:
        by_id = {h.id: h for h in hits}
        vectors = await self._vectors(list(by_id))
        threshold = query.mmr_threshold
        if threshold is None:
            threshold = kwargs.get("mmr_threshold")
        ranked = mmr_top_k(
            vector, vectors, list(by_id), k=query.similarity_top_k, threshold=threshold
        )
        return _result([(by_id[i], s) for i, s in ranked])

    async def _query_among(
        self, query: VectorStoreQuery, flt: dict[str, Any] | None, **kwargs: Any
    ) -> VectorStoreQueryResult:
        """A query restricted to ``query.node_ids``: exact scoring over those nodes."""
        if query.mode not in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            raise ValueError("node_ids can restrict default and mmr queries only")
        vector = await self._query_vector(query)
        items = await self._select(query.node_ids or [], flt)
        if query.mode == VectorStoreQueryMode.MMR:
            return await self._mmr(query, vector, items, **kwargs)
        by_id = {i.id: i for i in items}
        ranked = exact_top_k(
            vector, await self._vectors(list(by_id)), list(by_id), k=query.similarity_top_k
        )
        return _result([(by_id[i], s) for i, s in ranked])

    async def _select(
        self, node_ids: list[str] | None, flt: dict[str, Any] | None
    ) -> list[MemoryItem]:
        """Items of this scope: by id (order kept) and/or matching the core filter ``flt``."""
        if node_ids is None:
            return list(
                await self._runner.arun(lambda m: m.get_all(**self.scope, filters=flt, limit=None))
            )
        items = list(await self._runner.arun(lambda m: m.get_many(node_ids, **self.scope)))
        if flt is not None and items:
            allowed = {
                i.id
                for i in await self._runner.arun(
                    lambda m: m.get_all(**self.scope, filters=flt, limit=None)
                )
            }
            items = [i for i in items if i.id in allowed]
        return items

    async def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of ``ids`` (for MMR and ``node_ids`` queries)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        return dict(await self._runner.arun(lambda m: m.get_vectors(wanted)))

    # --- sync API: the same coroutines, run on the memory's loop (loop_bridge) ------------

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        return self._runner.run(lambda _: self.async_add(nodes, **kwargs))

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        self._runner.run(lambda _: self.adelete(ref_doc_id, **delete_kwargs))

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        self._runner.run(lambda _: self.adelete_nodes(node_ids, filters, **delete_kwargs))

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        return self._runner.run(lambda _: self.aget_nodes(node_ids, filters))

    def clear(self) -> None:
        self._runner.run(lambda _: self.aclear())

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return self._runner.run(lambda _: self.aquery(query, **kwargs))


def _text(query: VectorStoreQuery) -> str:
    if not query.query_str or not query.query_str.strip():
        raise ValueError(f"{query.mode.value} search needs query_str")
    return query.query_str


def _result(scored: list[tuple[MemoryItem, float | None]]) -> VectorStoreQueryResult:
    return VectorStoreQueryResult(
        nodes=[item_to_node(item) for item, _ in scored],
        similarities=[float(s) if s is not None else 0.0 for _, s in scored],
        ids=[item.id for item, _ in scored],
    )

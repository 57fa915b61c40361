"""LlamaIndex vector store over agentmem-plugins (LanceDB + SQL on disk, shared core).

``from llama_index.vector_stores.agentmem import AgentMemVectorStore``
"""

from ._store import AgentMemVectorStore

__all__ = ["AgentMemVectorStore"]

"""LangChain and LangGraph adapters for agentmem-plugins.

Each class maps framework types onto the core (``agentmem_plugins``), where all the
behaviour lives::

    AgentMemVectorStore    langchain_core VectorStore
    AgentMemRetriever      langchain_core BaseRetriever (real k, similarity/threshold/mmr/hybrid)
    LangChainEmbedder      LangChain Embeddings  -> core Embedder
    AgentMemEmbeddings     core Embedder          -> LangChain Embeddings
    LangChainChatModel     LangChain BaseChatModel -> core ChatModel (intelligent mode)
    LangChainReranker      LangChain BaseDocumentCompressor -> core Reranker
    AgentMemReranker       core Reranker          -> LangChain BaseDocumentCompressor
    create_memory_tools    save / search / forget tools for agents
    AgentMemStore          langgraph BaseStore          (extra: agentmem-plugins[langgraph])
    AgentMemMemory         langchain_classic BaseMemory (extra: agentmem-plugins[classic])

The optional ones are imported on first use, so ``import langchain_agentmem`` needs
only langchain-core; using them without their extra raises an ``ImportError`` that
names the ``pip install`` command.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .chat_models import LangChainChatModel
from .embeddings import AgentMemEmbeddings, LangChainEmbedder
from .rerankers import AgentMemReranker, LangChainReranker
from .retrievers import AgentMemRetriever
from .tools import create_memory_tools
from .vectorstores import AgentMemVectorStore

if TYPE_CHECKING:
    from .memory import AgentMemMemory
    from .store import AgentMemStore

__all__ = [
    "AgentMemEmbeddings",
    "AgentMemMemory",
    "AgentMemReranker",
    "AgentMemRetriever",
    "AgentMemStore",
    "AgentMemVectorStore",
    "LangChainChatModel",
    "LangChainEmbedder",
    "LangChainReranker",
    "create_memory_tools",
]

_LAZY = {"AgentMemStore": ".store", "AgentMemMemory": ".memory"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

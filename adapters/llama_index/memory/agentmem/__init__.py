"""LlamaIndex memory over agentmem-plugins: a memory block, a legacy memory, bridges.

* :class:`AgentMemMemoryBlock`: long-term memory as a block of
  ``llama_index.core.memory.Memory`` (the modern memory);
* :class:`AgentMemMemory`: a drop-in ``BaseMemory`` (chat history + long-term memories);
* :class:`LlamaIndexChatModel`: a LlamaIndex ``LLM`` for the core's intelligent mode;
* :class:`LlamaIndexEmbedder` / :class:`AgentMemEmbedding`: embedding models, both ways;
* :class:`LlamaIndexReranker` / :class:`AgentMemRerank`: rerankers, both ways.

Adapters accept ``agentmem_plugins.Memory`` (sync facade: sync and async code) or
``AsyncMemory`` (async code on one event loop).
"""

from ._block import AgentMemMemoryBlock
from ._embeddings import AgentMemEmbedding, LlamaIndexEmbedder
from ._legacy import AgentMemMemory
from ._llm import LlamaIndexChatModel
from ._rerankers import AgentMemRerank, LlamaIndexReranker

__all__ = [
    "AgentMemEmbedding",
    "AgentMemMemory",
    "AgentMemMemoryBlock",
    "AgentMemRerank",
    "LlamaIndexChatModel",
    "LlamaIndexEmbedder",
    "LlamaIndexReranker",
]

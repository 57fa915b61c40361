"""agentmem-plugins: fast, correct long-term memory for AI agents.

``AsyncMemory`` is the implementation, ``Memory`` its sync facade, ``MemoryConfig`` the
one configuration. Adapters for LangChain, LangGraph and LlamaIndex live in the
``langchain_agentmem`` and ``llama_index.*.agentmem`` packages of this distribution.
"""

from ._check import CheckReport
from ._config import MemoryConfig
from ._errors import (
    AgentMemError,
    ConfigError,
    EmbedderError,
    EmbedderMismatchError,
    FilterError,
    InvalidInputError,
    LLMError,
    LLMRequestError,
    LLMResponseError,
    LLMTransientError,
    NotFoundError,
    ScopeError,
    StoreClosedError,
)
from ._memory import AsyncMemory
from ._sync import Memory
from ._types import (
    AddResult,
    HistoryEvent,
    MemoryEvent,
    MemoryInput,
    MemoryItem,
    Message,
    PendingWork,
    SearchMode,
)
from .embeddings import Embedder
from .llms import ChatMessage, ChatModel

__version__ = "0.1.0"

__all__ = [
    "AddResult",
    "AgentMemError",
    "AsyncMemory",
    "ChatMessage",
    "ChatModel",
    "CheckReport",
    "ConfigError",
    "Embedder",
    "EmbedderError",
    "EmbedderMismatchError",
    "FilterError",
    "HistoryEvent",
    "InvalidInputError",
    "LLMError",
    "LLMRequestError",
    "LLMResponseError",
    "LLMTransientError",
    "Memory",
    "MemoryConfig",
    "MemoryEvent",
    "MemoryInput",
    "MemoryItem",
    "Message",
    "NotFoundError",
    "PendingWork",
    "ScopeError",
    "SearchMode",
    "StoreClosedError",
    "__version__",
]

"""Import paths, exports and the namespace-package layout."""

from __future__ import annotations

import importlib
from pathlib import Path

import llama_index.memory.agentmem as memory_pkg
import llama_index.vector_stores.agentmem as store_pkg

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"


def test_public_exports():
    assert memory_pkg.__all__ == [
        "AgentMemEmbedding",
        "AgentMemMemory",
        "AgentMemMemoryBlock",
        "AgentMemRerank",
        "LlamaIndexChatModel",
        "LlamaIndexEmbedder",
        "LlamaIndexReranker",
    ]
    assert store_pkg.__all__ == ["AgentMemVectorStore"]
    for module in (memory_pkg, store_pkg):
        for name in module.__all__:
            assert getattr(module, name).__doc__, name
            assert "Example::" in getattr(module, name).__doc__, name


def test_llama_index_stays_a_namespace_package():
    for folder in ("llama_index", "llama_index/memory", "llama_index/vector_stores"):
        assert not (ADAPTERS / folder / "__init__.py").exists(), folder
    # ours resolve from adapters/, and LlamaIndex's own packages still import
    assert Path(memory_pkg.__file__).is_relative_to(ADAPTERS)
    assert Path(store_pkg.__file__).is_relative_to(ADAPTERS)
    assert importlib.import_module("llama_index.core.memory").Memory is not None


def test_framework_base_classes():
    from llama_index.core.memory.memory import BaseMemoryBlock
    from llama_index.core.memory.types import BaseMemory
    from llama_index.core.vector_stores.types import BasePydanticVectorStore

    assert issubclass(memory_pkg.AgentMemMemoryBlock, BaseMemoryBlock)
    assert issubclass(memory_pkg.AgentMemMemory, BaseMemory)
    assert issubclass(store_pkg.AgentMemVectorStore, BasePydanticVectorStore)
    assert store_pkg.AgentMemVectorStore.model_fields["stores_text"].default is True


def test_async_methods_are_native():
    """The async twins are our own coroutines, not the framework's sync fallbacks."""
    from llama_index.core.memory.types import BaseMemory
    from llama_index.core.vector_stores.types import BasePydanticVectorStore

    store = store_pkg.AgentMemVectorStore
    for name in ("async_add", "adelete", "adelete_nodes", "aget_nodes", "aclear", "aquery"):
        assert getattr(store, name) is not getattr(BasePydanticVectorStore, name), name
    legacy = memory_pkg.AgentMemMemory
    for name in ("aget", "aget_all", "aput", "aput_messages", "aset", "areset"):
        assert getattr(legacy, name) is not getattr(BaseMemory, name), name

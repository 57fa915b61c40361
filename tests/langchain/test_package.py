"""The package surface: __all__, lazy optional imports, and missing-extra messages."""

from __future__ import annotations

import sys

import langchain_agentmem
import pytest


def test_all_names_resolve():
    assert sorted(langchain_agentmem.__all__) == [
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
    for name in langchain_agentmem.__all__:
        assert getattr(langchain_agentmem, name).__name__ == name
    with pytest.raises(AttributeError):
        langchain_agentmem.NoSuchThing  # noqa: B018


@pytest.mark.parametrize(
    ("name", "module", "dependency", "extra"),
    [
        ("AgentMemStore", "langchain_agentmem.store", "langgraph.store.base", "langgraph"),
        ("AgentMemMemory", "langchain_agentmem.memory", "langchain_classic.base_memory", "classic"),
    ],
)
def test_missing_extra_names_the_pip_command(monkeypatch, name, module, dependency, extra):
    monkeypatch.setitem(sys.modules, dependency, None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.delattr(langchain_agentmem, name, raising=False)  # drop the cached lazy import
    with pytest.raises(ImportError, match=rf'pip install "agentmem-plugins\[{extra}\]"'):
        getattr(langchain_agentmem, name)

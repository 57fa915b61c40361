"""AgentMemMemory: LangChain classic chain memory over the core."""

from __future__ import annotations

import warnings

import pytest
from langchain_agentmem import AgentMemMemory, LangChainChatModel
from langchain_core.documents import Document

from agentmem_plugins import AsyncMemory

from .fakes import ScriptedChatModel


@pytest.fixture
def chain_memory(memory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # LangChain deprecated BaseMemory
        return AgentMemMemory(memory=memory, user_id="alice", k=2)


def test_save_then_load_relevant(chain_memory, memory):
    chain_memory.save_context({"input": "I live in Lyon"}, {"output": "Nice city!"})
    chain_memory.save_context({"input": "I have a cat named Miso"}, {"output": "Cute."})
    assert chain_memory.memory_variables == ["history"]
    loaded = chain_memory.load_memory_variables({"input": "where do I live, Lyon?"})
    lines = loaded["history"].splitlines()
    assert lines[0] == "- I live in Lyon" and len(lines) == 2
    # without an LLM each turn is stored as given, user and assistant message alike
    assert memory.count(user_id="alice") == 4
    assert memory.count(user_id="bob", all_scopes=False) == 0


def test_return_docs_and_keys(memory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        chain_memory = AgentMemMemory(
            memory=memory,
            user_id="alice",
            memory_key="facts",
            input_key="question",
            output_key="answer",
            return_docs=True,
            search_mode="hybrid",
        )
    chain_memory.save_context({"question": "I like tea", "other": 1}, {"answer": "ok", "x": 2})
    loaded = chain_memory.load_memory_variables({"question": "tea", "facts": None})
    assert all(isinstance(d, Document) for d in loaded["facts"])
    assert loaded["facts"][0].page_content == "I like tea"
    assert chain_memory.load_memory_variables({"question": ""}) == {"facts": []}


def test_clear_forgets_only_the_scope(chain_memory, memory):
    memory.add("Bob's memory", user_id="bob")
    chain_memory.save_context({"input": "I like tea"}, {"output": "ok"})
    chain_memory.clear()
    assert memory.count(user_id="alice") == 0
    assert memory.count(user_id="bob") == 1


async def test_async_variants(tmp_path):
    async with AsyncMemory(path=tmp_path / "m", embedder="hash") as core:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            chain_memory = AgentMemMemory(memory=core, user_id="alice")
        await chain_memory.asave_context({"input": "I like green tea"}, {"output": "Noted"})
        loaded = await chain_memory.aload_memory_variables({"input": "green tea"})
        assert "- I like green tea" in loaded["history"]
        await chain_memory.aclear()
        assert await core.count(user_id="alice") == 0


def test_bad_input(memory, chain_memory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match="scope"):
            AgentMemMemory(memory=memory)
        with pytest.raises(ValueError, match="AsyncMemory or Memory"):
            AgentMemMemory(memory="./mem", user_id="alice")
        with pytest.raises(ValueError, match="operator"):
            AgentMemMemory(memory=memory, user_id="alice", filter={"k": {"$regex": "x"}})
    with pytest.raises(ValueError, match="input_key"):
        chain_memory.load_memory_variables({"a": "x", "b": "y"})
    with pytest.raises(ValueError, match="output_key"):
        chain_memory.save_context({"input": "x"}, {"a": "1", "b": "2"})
    with pytest.raises(TypeError, match="str or a message"):
        chain_memory.save_context({"input": 42}, {"output": "ok"})


def test_infer_with_an_llm_configured(tmp_path):
    """With an LLM on the memory, save_context hands the turn to intelligent mode."""
    pytest.importorskip("agentmem_plugins.infer.pipeline", reason="intelligent mode not built yet")
    from agentmem_plugins import Memory

    def answer(messages) -> str:  # the facts and the add/update decision in one answer
        return (
            '{"facts": [{"text": "Lives in Lyon"}], '
            '"decisions": [{"fact": 0, "action": "add", "text": "Lives in Lyon"}]}'
        )

    llm = LangChainChatModel(ScriptedChatModel(steps=[answer] * 4))
    with Memory(path=tmp_path / "m", embedder="hash", llm=llm) as core:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            chain_memory = AgentMemMemory(memory=core, user_id="alice")
        chain_memory.save_context({"input": "I moved to Lyon last year"}, {"output": "Nice!"})
        assert [m.text for m in core.get_all(user_id="alice")] == ["Lives in Lyon"]
        assert llm.model.position >= 1

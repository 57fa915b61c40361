"""AgentMemMemory: the legacy BaseMemory drop-in (the role of Mem0Memory)."""

from __future__ import annotations

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import ChatMessage
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.memory.agentmem import AgentMemMemory

from agentmem_plugins import ConfigError
from agentmem_plugins import Memory as CoreMemory

from .conftest import ScriptedAgentLLM, system_text


def msg(role: str, text: str) -> ChatMessage:
    return ChatMessage(role=role, content=text)


def test_put_get_inject_memories_as_a_system_message(core):
    memory = AgentMemMemory.from_defaults(memory=core, user_id="ada")
    memory.put(msg("user", "I live in Lisbon"))
    memory.put(msg("assistant", "Lisbon is lovely"))
    assert sorted(i.text for i in core.get_all(user_id="ada")) == [
        "I live in Lisbon",
        "Lisbon is lovely",
    ]
    messages = memory.get(input="where do I live?")
    assert messages[0].role == "system"
    assert "- I live in Lisbon" in messages[0].content
    assert [m.content for m in messages[1:]] == ["I live in Lisbon", "Lisbon is lovely"]
    assert [m.content for m in memory.get_all()] == ["I live in Lisbon", "Lisbon is lovely"]


def test_existing_system_message_is_merged_not_duplicated(core):
    core.add("Likes green tea", user_id="ada")
    memory = AgentMemMemory.from_defaults(
        memory=core, user_id="ada", chat_history=ChatMemoryBuffer.from_defaults()
    )
    memory.set([msg("system", "Be brief."), msg("user", "what tea?")])
    messages = memory.get()
    assert [m.role for m in messages] == ["system", "user"]
    assert (
        messages[0].content.startswith("Be brief.\n\n") and "Likes green tea" in messages[0].content
    )


def test_set_remembers_only_new_messages_and_reset_keeps_long_term(core):
    memory = AgentMemMemory.from_defaults(memory=core, user_id="ada")
    memory.set([msg("user", "first fact")])
    memory.set([msg("user", "first fact"), msg("user", "second fact")])
    assert sorted(i.text for i in core.get_all(user_id="ada")) == ["first fact", "second fact"]
    memory.reset()
    assert memory.get_all() == []
    assert core.count(user_id="ada") == 2
    fresh = memory.get(input="first fact?")
    assert len(fresh) == 1 and "first fact" in fresh[0].content


async def test_async_twins_use_the_async_core(acore):
    memory = AgentMemMemory.from_defaults(memory=acore, user_id="ada", remember_roles=("user",))
    await memory.aput(msg("user", "My cat is called Miso"))
    await memory.aput_messages([msg("assistant", "Cute!"), msg("user", "She is three")])
    assert sorted(i.text for i in await acore.get_all(user_id="ada")) == [
        "My cat is called Miso",
        "She is three",
    ]
    messages = await memory.aget(input="what is my cat called?")
    assert "Miso" in messages[0].content
    await memory.aset([msg("user", "new chat")])
    assert [m.content for m in await memory.aget_all()] == ["new chat"]
    await memory.areset()
    assert await memory.aget_all() == []
    with pytest.raises(ConfigError, match="async method"):
        memory.put(msg("user", "sync on the memory's own loop"))
    assert await memory.aget_all() == []  # nothing half-done


def test_scope_is_required_and_core_excluded_from_dumps(core):
    with pytest.raises(ValueError, match="needs a scope"):
        AgentMemMemory.from_defaults(memory=core)
    memory = AgentMemMemory.from_defaults(memory=core, agent_id="bot")
    assert "memory" not in memory.model_dump()


def test_with_a_chat_engine(core):
    core.add("Name is Ada", user_id="ada")
    llm = ScriptedAgentLLM(lambda m: "Hello Ada!" if "Name is Ada" in system_text(m) else "Hi!")
    engine = SimpleChatEngine.from_defaults(
        llm=llm, memory=AgentMemMemory.from_defaults(memory=core, user_id="ada")
    )
    assert str(engine.chat("hi, what is my name?")) == "Hello Ada!"


async def test_with_a_function_agent_across_sessions(tmp_path):
    def answer(messages: list[ChatMessage]) -> str:
        if messages[-1].content.endswith("?"):
            return "You live in Lisbon." if "Lisbon" in system_text(messages) else "No idea."
        return "Got it."

    replies = []
    for question in ["I live in Lisbon.", "Where do I live?"]:  # two sessions, one store
        with CoreMemory(path=tmp_path / "mem", embedder="hash") as core:
            memory = AgentMemMemory.from_defaults(memory=core, user_id="ada")
            agent = FunctionAgent(llm=ScriptedAgentLLM(answer), tools=[])
            replies.append(str(await agent.run(question, memory=memory)))
    assert replies == ["Got it.", "You live in Lisbon."]

"""AgentMemMemoryBlock: LlamaIndex's modern Memory with the core as long-term memory."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import TextBlock
from llama_index.core.llms import ChatMessage
from llama_index.core.memory import Memory
from llama_index.memory.agentmem import AgentMemMemoryBlock

from agentmem_plugins import AsyncMemory, ConfigError
from agentmem_plugins import Memory as CoreMemory

from .conftest import ScriptedAgentLLM, system_text


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def short_memory(block: AgentMemMemoryBlock, session_id: str) -> Memory:
    """A Memory whose short-term queue is tiny, so turns flush into the block quickly."""
    return Memory.from_defaults(
        session_id=session_id,
        memory_blocks=[block],
        token_limit=60,
        chat_history_token_ratio=0.3,
        token_flush_size=10,
    )


async def test_aput_stores_flushed_messages_verbatim(core):
    block = AgentMemMemoryBlock(name="long_term", memory=core, user_id="ada")
    await block.aput(
        [
            user("I live in Lisbon"),
            ChatMessage(role="assistant", content="Lisbon is lovely."),
            ChatMessage(role="tool", content="weather: sunny"),
            ChatMessage(role="user", content="   "),
        ],
        session_id="s1",
    )
    items = core.get_all(user_id="ada")
    assert sorted(i.text for i in items) == ["I live in Lisbon", "Lisbon is lovely."]
    assert all(i.metadata == {"source": "llama_index", "session_id": "s1"} for i in items)


async def test_aget_returns_relevant_memories_best_first(core):
    for text in ["Likes green tea", "Owns a bicycle", "Works as a nurse", "Hates green beans"]:
        core.add(text, user_id="ada")
    core.add("Likes green tea", user_id="bob")
    block = AgentMemMemoryBlock(name="long_term", memory=core, user_id="ada", top_k=2)
    content = await block.aget([user("hello"), user("what tea do I like?")], session_id="s9")
    assert all(isinstance(b, TextBlock) for b in content)
    assert [b.text for b in content][0] == "- Likes green tea"
    assert len(content) == 2
    assert await block.aget([], session_id="s9") == []
    assert await block.aget([ChatMessage(role="user", content="")]) == []


async def test_template_threshold_and_filters(core):
    core.add("Likes green tea", user_id="ada", metadata={"topic": "food"})
    core.add("Likes jazz", user_id="ada", metadata={"topic": "music"})
    block = AgentMemMemoryBlock(
        memory=core,
        user_id="ada",
        filters={"topic": "music"},
        memory_template="[{score:.2f}] {text} ({metadata[topic]})",
    )
    (only,) = await block.aget([user("what do I like?")])
    assert only.text.endswith("Likes jazz (music)") and only.text.startswith("[")
    strict = AgentMemMemoryBlock(memory=core, user_id="ada", threshold=0.999)
    assert await strict.aget([user("what do I like?")]) == []


async def test_scopes_and_sessions(core):
    ada = AgentMemMemoryBlock(memory=core, user_id="ada")
    bob = AgentMemMemoryBlock(memory=core, user_id="bob")
    await ada.aput([user("My locker code is 4711")], session_id="s1")
    assert await bob.aget([user("locker code?")]) == []
    assert [b.text for b in await ada.aget([user("locker code?")], session_id="s2")] == [
        "- My locker code is 4711"
    ]

    per_session = AgentMemMemoryBlock(memory=core, agent_id="bot", session_as_run_id=True)
    await per_session.aput([user("Session-only note")], session_id="s1")
    assert core.get_all(run_id="s1")[0].text == "Session-only note"
    assert await per_session.aget([user("note")], session_id="s2") == []
    assert len(await per_session.aget([user("note")], session_id="s1")) == 1


def test_construction_needs_a_scope_and_a_core(core):
    with pytest.raises(ValueError, match="needs a scope"):
        AgentMemMemoryBlock(memory=core)
    with pytest.raises(TypeError, match="AsyncMemory or Memory"):
        AgentMemMemoryBlock(memory="not a memory", user_id="x")
    block = AgentMemMemoryBlock(memory=core, user_id="x")
    assert "memory" not in block.model_dump()


async def test_atruncate_drops_the_least_relevant_first(core):
    block = AgentMemMemoryBlock(memory=core, user_id="ada")
    content = [TextBlock(text=f"- memory number {i} " + "word " * 10) for i in range(3)]
    kept = await block.atruncate(content, tokens_to_truncate=5)
    assert [b.text for b in kept] == [content[0].text, content[1].text]
    assert await block.atruncate(content, tokens_to_truncate=10_000) is None
    assert content[2] in content  # the input list is left as it was


async def test_memory_flushes_into_the_block_and_renders_it(core):
    block = AgentMemMemoryBlock(name="long_term", memory=core, user_id="ada")
    memory = short_memory(block, "s1")
    for text in ["My favourite colour is teal.", "Noted, teal it is.", "I also like tea.", "ok"]:
        role = "user" if text != "Noted, teal it is." else "assistant"
        await memory.aput(ChatMessage(role=role, content=text))
    assert core.count(user_id="ada") >= 2  # the oldest turn was flushed to the core
    messages = await memory.aget()
    rendered = system_text(messages)
    assert "<long_term>" in rendered and "My favourite colour is teal." in rendered


async def test_memory_truncates_the_block_under_token_pressure(core):
    for i in range(8):
        core.add(f"Fact number {i} about tea and nothing else " + "filler " * 20, user_id="ada")
    block = AgentMemMemoryBlock(memory=core, user_id="ada", priority=1, top_k=8)
    memory = Memory.from_defaults(session_id="s", memory_blocks=[block], token_limit=150)
    await memory.aput(user("tell me about tea"))
    rendered = system_text(await memory.aget())
    shown = rendered.count("Fact number")
    assert 0 < shown < 8  # some memories dropped, the most relevant kept


async def test_a_fact_told_in_one_session_is_recalled_in_the_next(tmp_path):
    """FunctionAgent + Memory + our block; the core store is closed and reopened on disk."""
    path = tmp_path / "agent-memory"

    def answer(messages: list[ChatMessage]) -> str:
        known = system_text(messages)
        if "favourite colour" in messages[-1].content.lower() and "?" in messages[-1].content:
            return "Your favourite colour is teal." if "teal" in known else "I don't know."
        return "Noted."

    async def run_session(session_id: str, turns: list[str]) -> tuple[list[str], ScriptedAgentLLM]:
        core = CoreMemory(path=path, embedder="hash")
        try:
            block = AgentMemMemoryBlock(name="long_term", memory=core, user_id="ada")
            memory = short_memory(block, session_id)
            llm = ScriptedAgentLLM(answer)
            agent = FunctionAgent(llm=llm, tools=[], system_prompt="You are a helpful assistant.")
            replies = [str(await agent.run(turn, memory=memory)) for turn in turns]
            return replies, llm
        finally:
            core.close()

    await run_session(
        "monday", ["My favourite colour is teal.", "I walk my dog every morning.", "Bye!"]
    )
    replies, llm = await run_session("tuesday", ["What is my favourite colour?"])
    assert replies == ["Your favourite colour is teal."]
    assert "My favourite colour is teal." in system_text(llm.seen[-1])

    fresh = CoreMemory(path=tmp_path / "empty", embedder="hash")
    try:
        block = AgentMemMemoryBlock(name="long_term", memory=fresh, user_id="ada")
        agent = FunctionAgent(llm=ScriptedAgentLLM(answer), tools=[])
        reply = await agent.run("What is my favourite colour?", memory=short_memory(block, "x"))
        assert str(reply) == "I don't know."  # control: without the store, no recall
    finally:
        fresh.close()


async def test_block_over_an_async_memory(acore):
    block = AgentMemMemoryBlock(name="long_term", memory=acore, user_id="ada")
    await block.aput([user("I am allergic to peanuts")], session_id="s1")
    assert [b.text for b in await block.aget([user("allergies?")])] == [
        "- I am allergic to peanuts"
    ]


def test_an_async_memory_stays_on_its_loop(tmp_path):
    """A second event loop gets a clear error (its writes would hang on a dead loop)."""
    memory = AsyncMemory(path=tmp_path / "am", embedder="hash")
    block = AgentMemMemoryBlock(memory=memory, user_id="ada")
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(block.aput([user("hello there")]))
        llama_memory = Memory.from_defaults(session_id="s", memory_blocks=[block])
        with pytest.raises(ConfigError, match="another event loop"):
            llama_memory.get("hello")  # LlamaIndex's sync get runs on a loop of its own
    finally:
        loop.run_until_complete(memory.close())
        loop.close()

"""End to end: agents that save a fact in one thread and recall it in another.

The chat model is scripted (it decides which tools to call), everything else is real:
``langchain.agents.create_agent``, LangGraph's checkpointer (one per thread), LangMem's
memory tools, and our store / tools on a core memory in a tmp dir.
"""

from __future__ import annotations

import json

import pytest
from langchain.agents import create_agent
from langchain_agentmem import AgentMemStore, create_memory_tools
from langchain_core.messages import ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langmem import create_manage_memory_tool, create_search_memory_tool

from agentmem_plugins import Memory

from .fakes import ScriptedChatModel, answer_from_last_tool, call

NAMESPACE = ("memories", "{langgraph_user_id}")


def thread(thread_id: str, user: str = "alice") -> dict:
    return {"configurable": {"thread_id": thread_id, "langgraph_user_id": user}}


def says(user_text: str) -> dict:
    return {"messages": [{"role": "user", "content": user_text}]}


def tool_outputs(result: dict) -> list[str]:
    return [str(m.content) for m in result["messages"] if isinstance(m, ToolMessage)]


@pytest.fixture
def store(tmp_path):
    with AgentMemStore(
        path=tmp_path / "store", index={"embed": "hash", "fields": ["content"]}, user_label=1
    ) as s:
        yield s


def script() -> ScriptedChatModel:
    return ScriptedChatModel(
        steps=[
            # thread 1: the user states a preference, the model saves it
            call(
                "manage_memory", {"content": "Alice's favourite tea is jasmine", "action": "create"}
            ),
            "Noted, jasmine it is.",
            # thread 2: a new conversation; the model searches memory and answers from it
            call("search_memory", {"query": "which tea does alice like"}, "call-2"),
            answer_from_last_tool(),
        ]
    )


def test_create_agent_with_langmem_tools_recalls_across_threads(store):
    tools = [
        create_manage_memory_tool(namespace=NAMESPACE),
        create_search_memory_tool(namespace=NAMESPACE),
    ]
    agent = create_agent(script(), tools, store=store, checkpointer=InMemorySaver())

    first = agent.invoke(says("I love jasmine tea"), thread("t1"))
    assert first["messages"][-1].content == "Noted, jasmine it is."

    second = agent.invoke(says("What tea do I like?"), thread("t2"))
    assert len(second["messages"]) == 4  # thread 2 starts fresh: nothing carried over
    assert "jasmine" in second["messages"][-1].content
    found = json.loads(tool_outputs(second)[-1])
    assert found[0]["namespace"] == ["memories", "alice"]
    assert found[0]["value"] == {"content": "Alice's favourite tea is jasmine"}

    # the memory is a core memory of user alice, visible to the core API as well
    hits = store.memory.search("jasmine", user_id="alice", agent_id="langgraph")
    assert [h.text for h in hits] == ["Alice's favourite tea is jasmine"]
    assert store.list_namespaces() == [("memories", "alice")]


async def test_create_agent_async_with_langmem_tools(store):
    tools = [
        create_manage_memory_tool(namespace=NAMESPACE),
        create_search_memory_tool(namespace=NAMESPACE),
    ]
    agent = create_agent(script(), tools, store=store, checkpointer=InMemorySaver())
    await agent.ainvoke(says("I love jasmine tea"), thread("t1"))
    second = await agent.ainvoke(says("What tea do I like?"), thread("t2"))
    assert "jasmine" in second["messages"][-1].content


def test_users_do_not_see_each_other(store):
    tools = [
        create_manage_memory_tool(namespace=NAMESPACE),
        create_search_memory_tool(namespace=NAMESPACE),
    ]
    model = ScriptedChatModel(
        steps=[
            call(
                "manage_memory", {"content": "Alice's favourite tea is jasmine", "action": "create"}
            ),
            "Noted.",
            call("search_memory", {"query": "favourite tea"}, "call-2"),
            answer_from_last_tool(),
        ]
    )
    agent = create_agent(model, tools, store=store, checkpointer=InMemorySaver())
    agent.invoke(says("I love jasmine tea"), thread("t1", user="alice"))
    bob = agent.invoke(says("What tea do I like?"), thread("t2", user="bob"))
    assert json.loads(tool_outputs(bob)[-1]) == []


def test_langmem_tools_update_and_delete_through_store(store):
    manage = create_manage_memory_tool(namespace=("memories", "alice"), store=store)
    search = create_search_memory_tool(namespace=("memories", "alice"), store=store)
    created = manage.invoke({"content": "Lives in Paris", "action": "create"})
    memory_id = created.split()[-1]
    manage.invoke({"content": "Lives in Lyon", "action": "update", "id": memory_id})
    found = search.invoke({"query": "where does alice live"})
    values = [
        r["value"]["content"] for r in json.loads(found[0] if isinstance(found, tuple) else found)
    ]
    assert values == ["Lives in Lyon"]
    manage.invoke({"action": "delete", "id": memory_id})
    assert store.search(("memories", "alice")) == []


def test_create_agent_with_memory_tools_recalls_across_threads(tmp_path):
    with Memory(path=tmp_path / "mem", embedder="hash") as memory:
        tools = create_memory_tools(memory, user_id="alice")
        model = ScriptedChatModel(
            steps=[
                call("save_memory", {"text": "Alice is allergic to peanuts"}),
                "Got it.",
                call("search_memory", {"query": "allergic to peanuts", "limit": 3}, "call-2"),
                answer_from_last_tool(),
            ]
        )
        agent = create_agent(model, tools, checkpointer=InMemorySaver())
        agent.invoke(says("I'm allergic to peanuts"), thread("t1"))
        second = agent.invoke(says("Any allergies?"), thread("t2"))
        assert "allergic to peanuts" in second["messages"][-1].content
        assert memory.count(user_id="alice") == 1

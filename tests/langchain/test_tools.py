"""create_memory_tools: save / search / forget tools bound to one scope."""

from __future__ import annotations

import json

import pytest
from langchain_agentmem import create_memory_tools
from langchain_agentmem.tools import ForgetMemoryInput, SaveMemoryInput, SearchMemoryInput


@pytest.fixture
def tools(memory):
    return {t.name: t for t in create_memory_tools(memory, user_id="alice")}


def test_names_and_schemas(tools):
    assert list(tools) == ["save_memory", "search_memory", "forget_memory"]
    assert tools["save_memory"].args_schema is SaveMemoryInput
    assert tools["search_memory"].args_schema is SearchMemoryInput
    assert tools["forget_memory"].args_schema is ForgetMemoryInput
    schema = tools["search_memory"].tool_call_schema.model_json_schema()
    assert schema["required"] == ["query"] and schema["properties"]["limit"]["maximum"] == 50
    assert all(t.description for t in tools.values())


def test_save_search_forget(tools, memory):
    saved = tools["save_memory"].invoke({"text": "Alice is allergic to peanuts"})
    assert saved.startswith("add memory ")
    found = json.loads(tools["search_memory"].invoke({"query": "peanuts allergy"}))
    assert found[0]["text"] == "Alice is allergic to peanuts"
    memory_id = found[0]["id"]
    assert "Forgot" in tools["forget_memory"].invoke({"memory_id": memory_id})
    assert tools["search_memory"].invoke({"query": "peanuts"}) == "No matching memories."


async def test_async_tools(tools):
    await tools["save_memory"].ainvoke({"text": "Alice likes jasmine tea"})
    found = json.loads(await tools["search_memory"].ainvoke({"query": "jasmine", "limit": 1}))
    assert len(found) == 1 and found[0]["text"] == "Alice likes jasmine tea"


def test_scope_is_fixed_by_code_not_by_the_model(memory, tools):
    bob_id = memory.add("Bob's secret", user_id="bob").results[0].id
    assert "Bob" not in tools["search_memory"].invoke({"query": "secret"})
    answer = tools["forget_memory"].invoke({"memory_id": bob_id})
    assert answer.startswith("No memory with id")  # the model sees the error, Bob keeps his memory
    assert memory.count(user_id="bob") == 1


def test_bad_arguments_come_back_to_the_model(tools):
    assert "error" in tools["search_memory"].invoke({"query": "x", "limit": 500}).lower()
    assert "error" in tools["save_memory"].invoke({"text": ""}).lower()


def test_prefix_and_scope_required(memory):
    assert [t.name for t in create_memory_tools(memory, agent_id="a", prefix="team_")][0] == (
        "team_save_memory"
    )
    with pytest.raises(ValueError, match="scope"):
        create_memory_tools(memory)
    with pytest.raises(TypeError, match="AsyncMemory or Memory"):
        create_memory_tools("./mem", user_id="alice")  # type: ignore[arg-type]

"""ScriptedChatModel and RuleBasedChatModel: the fakes users test their code with."""

from __future__ import annotations

import json

import pytest

from agentmem_plugins._errors import LLMTransientError
from agentmem_plugins.infer.prompts import build_extraction_messages
from agentmem_plugins.llms import ChatModel, RuleBasedChatModel, ScriptedChatModel

MSG = [{"role": "user", "content": "hi"}]


async def test_scripted_returns_raises_and_calls_in_order():
    seen = []

    def echo(messages, json_mode):
        seen.append((messages[-1]["content"], json_mode))
        return "from callable"

    async def async_step(messages, json_mode):
        return "from coroutine"

    llm = ScriptedChatModel(["one", LLMTransientError("boom"), ValueError, echo, async_step])
    assert await llm.complete(MSG) == "one"
    with pytest.raises(LLMTransientError, match="boom"):
        await llm.complete(MSG)
    with pytest.raises(ValueError):
        await llm.complete(MSG)
    assert await llm.complete(MSG, json_mode=True) == "from callable"
    assert await llm.complete(MSG) == "from coroutine"
    assert seen == [("hi", True)]
    assert [c.json_mode for c in llm.calls] == [False, False, False, True, False]
    assert llm.remaining == 0


async def test_scripted_running_out_is_a_clear_assertion():
    llm = ScriptedChatModel(["only"], name="extractor")
    await llm.complete(MSG)
    with pytest.raises(AssertionError, match="extractor.*call 2.*1 step"):
        await llm.complete(MSG)
    llm.extend(["more"])
    assert await llm.complete(MSG) == "more"


async def test_scripted_records_a_copy_of_the_messages():
    llm = ScriptedChatModel(["a"])
    messages = [{"role": "user", "content": "before"}]
    await llm.complete(messages)
    messages[0]["content"] = "after"
    assert llm.calls[0].messages[0]["content"] == "before"


def test_fakes_satisfy_the_protocol():
    assert isinstance(ScriptedChatModel([]), ChatModel)
    assert isinstance(RuleBasedChatModel(), ChatModel)


async def test_rule_based_model_answers_extraction_prompts():
    llm = RuleBasedChatModel(record=True)
    messages = build_extraction_messages(["I live in Paris. What time is it?"])
    answer = json.loads(await llm.complete(messages, json_mode=True))
    assert [f["text"] for f in answer["facts"]] == ["Lives in Paris"]
    assert llm.call_count == 1 and llm.calls[0].json_mode


async def test_rule_based_model_on_foreign_prompts():
    llm = RuleBasedChatModel()
    assert await llm.complete(MSG, json_mode=True) == "{}"
    assert await llm.complete(MSG) == "OK"

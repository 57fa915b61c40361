"""The rule-based model answers Mem0's prompts (for the Mem0 comparison benchmark).

The prompts below are built the way mem0ai 2.2.1 builds them (``mem0/configs/prompts.py``:
``generate_additive_extraction_prompt``, ``get_update_memory_messages``; ``mem0/memory/
utils.py``: ``parse_messages``, ``get_fact_retrieval_messages``), so these tests need no
Mem0; the last test uses Mem0's own builders when ``mem0`` is importable.
"""

from __future__ import annotations

import json

import httpx
import pytest

from agentmem_plugins.infer.prompts import build_decision_messages, build_extraction_messages
from agentmem_plugins.testing import mem0_rules, rules
from agentmem_plugins.testing.llm_server import count_tokens

ADDITIVE_SYSTEM = (
    "\n\n# ROLE\n\nYou are a Memory Extractor — a precise, evidence-bound processor ...\n"
    '{"memory": [{"id": "0", "text": "...", "attributed_to": "user"}]}\n'
)
FACTS_SYSTEM = "You are a Personal Information Organizer, specialized in ... json ... facts"
UPDATE_HEAD = "You are a smart memory manager which controls the memory of a system.\n..."


def parse_messages(messages: list[dict[str, str]]) -> str:
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages)


def additive(new: str, existing=(), *, observed="2024-05-02", recent=()) -> list[dict]:
    sections = [
        "## Summary\n",
        "## Last k Messages\nuser: earlier message\n",
        f"## Recently Extracted Memories\n{json.dumps(list(recent))}",
        f"## Existing Memories\n{json.dumps(list(existing))}",
        f"## New Messages\n{new}",
        f"## Observation Date\n{observed}",
        "## Current Date\n2026-01-01",
        "# Output:",
    ]
    return [
        {"role": "system", "content": ADDITIVE_SYSTEM},
        {"role": "user", "content": "\n\n".join(sections)},
    ]


def update_prompt(old: list[dict], facts: list[str]) -> list[dict]:
    if old:
        current = (
            "\n    Below is the current content of my memory which I have collected till now. "
            f"You have to update it in the following format only:\n\n    ```\n    {old}\n"
            "    ```\n\n    "
        )
    else:
        current = "\n    Current memory is empty.\n\n    "
    text = (
        f"{UPDATE_HEAD}\n\n    {current}\n\n    The new retrieved facts are mentioned in the "
        "triple backticks. You have to analyze the new retrieved facts and determine whether "
        f"these facts should be added, updated, or deleted in the memory.\n\n    ```\n    {facts}"
        "\n    ```\n\n    You must return your response in the following JSON structure only:"
        '\n\n    {\n        "memory" : [ ... ]\n    }\n'
    )
    return [{"role": "user", "content": text}]


def test_task_detection():
    assert mem0_rules.mem0_task(additive("user: hi\n")) == "mem0_extract"
    facts = [
        {"role": "system", "content": FACTS_SYSTEM},
        {"role": "user", "content": "Input:\nuser: I live in Rome\n"},
    ]
    assert mem0_rules.mem0_task(facts) == "mem0_facts"
    assert mem0_rules.mem0_task(update_prompt([], ["Lives in Rome"])) == "mem0_update"
    assert mem0_rules.mem0_task(build_extraction_messages(["I live in Rome"])) is None
    assert mem0_rules.mem0_task([{"role": "user", "content": "hello"}]) is None
    assert mem0_rules.mem0_task([{"role": "system", "content": "x"}]) is None


def test_additive_extracts_user_facts_in_mem0_format():
    new = parse_messages(
        [
            {"role": "user", "content": "Hi! I live in Paris. I'm vegetarian."},
            {"role": "assistant", "content": "I love Paris."},  # never the assistant's facts
            {"role": "user", "content": "What's the weather like?"},
        ]
    )
    out = json.loads(rules.answer(additive(new), json_mode=True))
    assert out == {
        "memory": [
            {"id": "0", "text": "Lives in Paris", "attributed_to": "user"},
            {"id": "1", "text": "Is vegetarian", "attributed_to": "user"},
        ]
    }


def test_additive_skips_known_facts_and_links_related_ones():
    existing = [
        {"id": "0", "text": "Is vegetarian"},
        {"id": "1", "text": "Lives in Paris"},
        {"id": "2", "text": "Likes tea"},
    ]
    new = "user: I'm vegetarian. I live in Berlin now. I like green tea. I play chess.\n"
    out = mem0_rules.mem0_additive(additive(new, existing))
    assert out["memory"] == [  # Mem0 2.x only adds; a contradiction/refinement is linked
        {"id": "0", "text": "Lives in Berlin", "attributed_to": "user", "linked_memory_ids": ["1"]},
        {"id": "1", "text": "Likes green tea", "attributed_to": "user", "linked_memory_ids": ["2"]},
        {"id": "2", "text": "Plays chess", "attributed_to": "user"},
    ]


def test_additive_uuid_ids_json_messages_recent_memories_and_dates():
    existing = [{"id": "a1b2c3d4-0000-0000-0000-111111111111", "text": "Lives in Paris"}]
    recent = [{"id": "r1", "text": "Plays chess"}]
    new = json.dumps(
        [
            {"role": "user", "content": "I moved to Rome yesterday. I play chess."},
            {"role": "user", "content": "I live in Rome."},
        ]
    )
    out = mem0_rules.mem0_additive(additive(new, existing, recent=recent, observed="2024-05-02"))
    assert out["memory"] == [
        {"id": "0", "text": "Moved to Rome on 2024-05-01", "attributed_to": "user"},
        {
            "id": "1",
            "text": "Lives in Rome",
            "attributed_to": "user",
            "linked_memory_ids": ["a1b2c3d4-0000-0000-0000-111111111111"],
        },
    ]


def test_additive_nothing_to_extract_and_multiline_content():
    assert mem0_rules.mem0_additive(additive("user: Thanks, that helps.\n")) == {"memory": []}
    assert mem0_rules.mem0_additive(additive("")) == {"memory": []}
    new = "user: Hello\nI work at Acme.\nassistant: Nice\n"
    texts = [m["text"] for m in mem0_rules.mem0_additive(additive(new))["memory"]]
    assert texts == ["Works at Acme"]


def test_fact_retrieval_legacy():
    messages = [
        {"role": "system", "content": FACTS_SYSTEM},
        {
            "role": "user",
            "content": "Input:\nuser: My name is Bob. I live in Oslo.\nassistant: Hi Bob!\n",
        },
    ]
    assert json.loads(rules.answer(messages, json_mode=True)) == {
        "facts": ["Name is Bob", "Lives in Oslo"]
    }


def test_update_memory_legacy_empty_memory_adds_everything():
    out = mem0_rules.mem0_update(update_prompt([], ["Lives in Oslo", "Plays chess"]))
    assert out == {
        "memory": [
            {"id": "0", "text": "Lives in Oslo", "event": "ADD"},
            {"id": "1", "text": "Plays chess", "event": "ADD"},
        ]
    }


def test_update_memory_legacy_update_delete_none():
    old = [
        {"id": "0", "text": "Lives in Paris"},
        {"id": "1", "text": "Likes tea"},
        {"id": "2", "text": "Plays chess"},
    ]
    out = json.loads(
        rules.answer(
            update_prompt(old, ["Lives in Berlin", "Likes green tea", "Plays chess", "Has a cat"]),
            json_mode=True,
        )
    )
    assert out == {
        "memory": [
            {"id": "0", "text": "Lives in Paris", "event": "DELETE"},
            {"id": "1", "text": "Likes green tea", "event": "UPDATE", "old_memory": "Likes tea"},
            {"id": "2", "text": "Plays chess", "event": "NONE"},
            {"id": "3", "text": "Lives in Berlin", "event": "ADD"},
            {"id": "4", "text": "Has a cat", "event": "ADD"},
        ]
    }


def test_our_prompts_still_answered_the_same_way():
    assert (
        json.loads(rules.answer(build_extraction_messages(["I live in Rome"])))["facts"][0]["text"]
        == "Lives in Rome"
    )
    prompt = build_decision_messages(["Lives in Rome"], [{"id": "x", "text": "Lives in Oslo"}])
    decisions = json.loads(rules.answer(prompt.messages))["decisions"]
    assert [d["action"] for d in decisions] == ["invalidate"]
    assert rules.answer([{"role": "user", "content": "hi"}]) == "OK"


def test_every_statement_is_a_fact_with_its_message_and_time():
    # the memory orders statements by valid time (infer/timeline.py), so the rules keep
    # each one, also an earlier value restated later
    payload = {
        "messages": [
            {"role": "user", "content": "I live in Paris.", "observed_at": "2024-05-01T10:00"},
            {"role": "user", "content": "I live in Berlin.", "observed_at": "2024-05-01T11:00"},
            {"role": "user", "content": "I play chess. I play chess!"},
            {"role": "user", "content": "I live in Paris.", "observed_at": "2024-05-01T12:00"},
        ]
    }
    facts = rules.extract_facts(payload)["facts"]
    assert facts == [
        {"text": "Lives in Paris", "message": 0, "observed_at": "2024-05-01T10:00"},
        {"text": "Lives in Berlin", "message": 1, "observed_at": "2024-05-01T11:00"},
        {"text": "Plays chess", "message": 2},
        {"text": "Lives in Paris", "message": 3, "observed_at": "2024-05-01T12:00"},
    ]


def test_server_counts_mem0_tasks_and_tokens(llm_server):
    messages = additive("user: I live in Rome.\n")
    with httpx.Client(base_url=llm_server.base_url) as client:
        body = client.post(
            "/chat/completions",
            json={
                "model": "gpt-5-mini",
                "messages": messages,
                "response_format": {"type": "json_object"},
            },
        ).json()
        client.post(
            "/chat/completions",
            json={
                "model": "m",
                "messages": build_extraction_messages(["I live in Rome"]),
            },
        )
        stats = client.get("/stats").json()
    content = body["choices"][0]["message"]["content"]
    assert json.loads(content)["memory"][0]["text"] == "Lives in Rome"
    assert body["usage"]["prompt_tokens"] == sum(count_tokens(m["content"]) for m in messages)
    assert stats["by_task"] == {"extract_facts": 1, "decide": 0, "other": 0, "mem0_extract": 1}


def test_with_mem0s_own_prompt_builders():
    prompts = pytest.importorskip("mem0.configs.prompts")
    utils = pytest.importorskip("mem0.memory.utils")
    new = utils.parse_messages([{"role": "user", "content": "I live in Lyon. I'm vegan."}])
    user = prompts.generate_additive_extraction_prompt(
        existing_memories=[{"id": "0", "text": "Lives in Nice"}],
        new_messages=new,
        last_k_messages=[],
    )
    messages = [
        {"role": "system", "content": prompts.ADDITIVE_EXTRACTION_PROMPT},
        {"role": "user", "content": user},
    ]
    assert mem0_rules.mem0_task(messages) == "mem0_extract"
    out = mem0_rules.mem0_additive(messages)["memory"]
    assert [(m["text"], m.get("linked_memory_ids")) for m in out] == [
        ("Lives in Lyon", ["0"]),
        ("Is vegan", None),
    ]
    system, user = utils.get_fact_retrieval_messages(new)
    facts = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    assert mem0_rules.mem0_task(facts) == "mem0_facts"
    assert mem0_rules.mem0_fact_retrieval(facts) == {"facts": ["Lives in Lyon", "Is vegan"]}
    update = prompts.get_update_memory_messages(
        [{"id": "0", "text": "Lives in Nice"}], ["Lives in Lyon"]
    )
    msgs = [{"role": "user", "content": update}]
    assert mem0_rules.mem0_task(msgs) == "mem0_update"
    assert mem0_rules.mem0_update(msgs)["memory"] == [
        {"id": "0", "text": "Lives in Nice", "event": "DELETE"},
        {"id": "1", "text": "Lives in Lyon", "event": "ADD"},
    ]

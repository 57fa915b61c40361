"""The rule-based "model" behind RuleBasedChatModel and the loopback server."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from agentmem_plugins.infer.prompts import (
    build_decision_messages,
    build_extraction_messages,
    map_relations,
)
from agentmem_plugins.infer.schema import DecisionAnswer, ExtractionAnswer
from agentmem_plugins.infer.timeline import Relation
from agentmem_plugins.llms import RuleBasedChatModel, call_json
from agentmem_plugins.testing import rules

THU = datetime(2024, 5, 2, 10, 0)


@pytest.mark.parametrize(
    ("sentence", "fact"),
    [
        ("I live in Paris.", "Lives in Paris"),
        ("My name is Bob", "Name is Bob"),
        ("Call me Al!", "Name is Al"),
        ("I'm vegetarian", "Is vegetarian"),
        ("I am a nurse", "Is a nurse"),
        ("I've got two kids", "Has got two kids"),
        ("I work at Acme", "Works at Acme"),
        ("I study physics", "Studies physics"),
        ("I watch films on Fridays", "Watches films on Fridays"),
        ("I really like green tea", "Really likes green tea"),
        ("I don't like coffee", "Does not like coffee"),
        ("I can swim", "Can swim"),
        ("I went to Rome yesterday", "Went to Rome on 2024-05-01"),
        ("Yesterday, I went to Rome", "Went to Rome on 2024-05-01"),
        ("Hi, I live in Oslo now", "Lives in Oslo"),
        ("My favourite colour is blue", "Favourite colour is blue"),
        ("I love my dog", "Loves their dog"),
        ("I moved here 3 days ago", "Moved here on 2024-04-29"),
    ],
)
def test_first_person_sentences_become_facts(sentence, fact):
    assert rules.fact_from_sentence(sentence, THU) == fact


@pytest.mark.parametrize(
    "sentence",
    ["Where do I live?", "The weather is nice", "I think so", "I'm fine", "Thanks", "I see"],
)
def test_other_sentences_are_skipped(sentence):
    assert rules.fact_from_sentence(sentence, THU) is None


def test_extraction_reads_user_messages_only_with_their_own_dates():
    messages = build_extraction_messages(
        [
            {
                "role": "user",
                "content": "I moved to Berlin yesterday. Do you like it?",
                "observed_at": datetime(2023, 1, 10),
            },
            {"role": "assistant", "content": "I like Berlin a lot."},
            {"role": "user", "content": "I work at Acme. I work at Acme!"},
        ],
        context=[{"role": "user", "content": "I live in Paris"}],
        now=THU,
    )
    answer = json.loads(rules.answer(messages, json_mode=True))
    assert answer == {
        "facts": [
            {
                "text": "Moved to Berlin on 2023-01-09",
                "message": 0,
                "observed_at": "2023-01-10T00:00",
            },
            {"text": "Works at Acme", "message": 2, "observed_at": "2024-05-02T10:00"},
        ]
    }


def test_subject_keys():
    assert rules.subject_key("Lives in Paris") == "lives in"
    assert rules.subject_key("Works at Acme") == "works at"
    assert rules.subject_key("Name is Bob") == "name is"
    assert rules.subject_key("Favourite colour is blue") == "favourite colour is"
    assert rules.subject_key("Likes tea") is None
    assert rules.subject_key("Is vegetarian") is None


def _decide(facts, memories, *, now=None):
    rows = [m if isinstance(m, dict) else {"text": m} for m in memories]
    prompt = build_decision_messages(
        facts, [{"id": f"m{i}", **row} for i, row in enumerate(rows)], now=now
    )
    answer = DecisionAnswer.model_validate_json(rules.answer(prompt.messages, json_mode=True))
    return map_relations(answer, prompt.id_map, facts)


def test_decisions_cover_every_relation():
    memories = ["Lives in Paris", "Likes tea", "Name is Bob", "Likes coffee", "Has a cat"]
    relations = _decide(
        [
            "Lives in Berlin",  # same key, new value: contradiction
            "Likes green tea",  # refines "Likes tea"
            "Name is Bob.",  # duplicate
            "Does not like coffee",  # negation: contradiction
            "Plays chess",  # new
            "Has cat",  # near-identical (articles ignored)
        ],
        memories,
    )
    assert [(r.fact, r.kind, r.memory_id) for r in relations] == [
        (0, "contradicts", "m0"),
        (1, "refines", "m1"),
        (2, "same", "m2"),
        (3, "contradicts", "m3"),
        (4, None, None),
        (5, "same", "m4"),
    ]
    assert relations[1].text == "Likes green tea"


def test_a_contradiction_is_invalidate_when_newer_and_outdated_when_older():
    june = datetime(2024, 6, 1)
    prompt = build_decision_messages(
        ["Lives in Rome"],
        [{"id": "a", "text": "Lives in Paris", "observed_at": datetime(2024, 1, 1)},
         {"id": "b", "text": "Lives in Oslo", "observed_at": datetime(2024, 9, 1)}],
        now=june,
    )  # fmt: skip
    decisions = json.loads(rules.answer(prompt.messages))["decisions"]
    assert [(d["action"], d["target"]) for d in decisions] == [("invalidate", 0), ("outdated", 1)]


def test_new_facts_of_one_prompt_are_compared_with_each_other():
    relations = _decide(["Lives in Rome", "Plays chess", "Lives in Oslo", "Plays chess"], [])
    assert [(r.fact, r.kind, r.other_fact) for r in relations] == [
        (0, None, None),
        (1, None, None),
        (2, "contradicts", 0),
        (3, "same", 1),
    ]


def test_only_a_memory_that_still_holds_is_updated():
    ended = {"text": "Likes tea", "invalid_at": datetime(2024, 3, 1)}
    assert [r.kind for r in _decide(["Likes green tea"], [ended])] == [None]


def test_decision_contradicts_every_contradicted_memory():
    relations = _decide(["Lives in Rome"], ["Lives in Paris", "Likes tea", "Lives in Oslo"])
    assert [(r.kind, r.memory_id) for r in relations] == [
        ("contradicts", "m0"),
        ("contradicts", "m2"),
    ]


def test_less_detail_than_stored_is_a_duplicate():
    assert _decide(["Likes tea"], ["Likes green tea"]) == [
        Relation(0, "same", "m0", None, "Likes tea", "already known in more detail")
    ]


def test_no_neighbours_means_add():
    assert _decide(["Likes tea"], []) == [
        Relation(0, None, None, None, "Likes tea", "new information")
    ]


async def test_full_round_trip_through_call_json():
    llm = RuleBasedChatModel()
    extraction = await call_json(
        llm,
        build_extraction_messages(
            ["Hi! I'm Ann. I live in Lyon. I moved to Lyon last month."], now=THU
        ),
        schema=ExtractionAnswer,
    )
    assert [f.text for f in extraction.facts] == [
        "Is Ann",
        "Lives in Lyon",
        "Moved to Lyon in 2024-04",
    ]
    assert all(f.observed_at == THU and f.message == 0 for f in extraction.facts)
    prompt = build_decision_messages(extraction.facts, [{"id": "x1", "text": "Lives in Paris"}])
    decided = await call_json(llm, prompt.messages, schema=DecisionAnswer)
    relations = map_relations(decided, prompt.id_map, extraction.facts)
    assert [(r.fact, r.kind, r.memory_id) for r in relations] == [
        (0, None, None),
        (1, "contradicts", "x1"),
        (2, None, None),
    ]
    assert llm.call_count == 2

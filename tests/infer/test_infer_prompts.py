"""Prompt building, answer schemas and mapping decisions back to real ids."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from agentmem_plugins._types import MemoryItem, Message
from agentmem_plugins.infer.prompts import (
    INPUT_END,
    INPUT_START,
    build_decision_messages,
    build_extraction_messages,
    map_relations,
    parse_input_block,
)
from agentmem_plugins.infer.schema import Decision, DecisionAnswer, ExtractedFact, ExtractionAnswer
from agentmem_plugins.infer.timeline import Relation

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=timezone.utc)


# --- extraction prompt ---------------------------------------------------------------------


def test_extraction_prompt_carries_messages_dates_and_context():
    said = datetime(2024, 4, 30, 9, 15)
    messages = build_extraction_messages(
        [
            Message(role="user", content="I moved yesterday", observed_at=said),
            {"role": "assistant", "content": "Congrats!"},
            "I like tea",
        ],
        context=[{"role": "user", "content": "earlier chat"}],
        now=NOW,
    )
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    assert "observed_at" in system and "YYYY-MM-DD" in system and '{"facts"' in system
    assert INPUT_START in user and INPUT_END in user
    block = parse_input_block(messages)
    assert block["task"] == "extract_facts"
    assert block["context"] == [{"role": "user", "content": "earlier chat"}]
    new = block["messages"]
    assert [(m["role"], m["content"]) for m in new] == [
        ("user", "I moved yesterday"),
        ("assistant", "Congrats!"),
        ("user", "I like tea"),
    ]
    assert new[0]["observed_at"] == "2024-04-30T09:15" and new[0]["weekday"] == "Tuesday"
    assert new[2]["observed_at"] == "2024-05-02T12:00+00:00"  # missing -> now


def test_extraction_instructions_go_into_the_system_prompt():
    plain = build_extraction_messages(["x"], now=NOW)
    custom = build_extraction_messages(["x"], now=NOW, instructions="  Only food preferences. ")
    assert "Additional instructions" not in plain[0]["content"]
    assert custom[0]["content"].endswith("Only food preferences.")
    assert custom[1] == plain[1]


def test_parse_input_block_finds_the_original_input_after_reasks():
    messages = build_extraction_messages(["I like tea"], now=NOW)
    reasked = [
        *messages,
        {"role": "assistant", "content": "oops"},
        {"role": "user", "content": "Your previous answer was not usable"},
    ]
    assert parse_input_block(reasked) == parse_input_block(messages)
    assert parse_input_block([{"role": "user", "content": "hello"}]) is None
    broken = [{"role": "user", "content": f"{INPUT_START}{{not json{INPUT_END}"}]
    assert parse_input_block(broken) is None


def test_unicode_survives_the_block():
    block = parse_input_block(build_extraction_messages(["J'habite à Zürich 🏔"], now=NOW))
    assert block["messages"][0]["content"] == "J'habite à Zürich 🏔"


# --- decision prompt -----------------------------------------------------------------------


def _item(id_, text):
    return MemoryItem(id=id_, text=text, created_at=NOW, updated_at=NOW, user_id="u")


def test_decision_prompt_hides_real_ids_behind_small_integers():
    neighbours = [
        _item("mem-aaaa-1111", "Lives in Paris"),
        {"id": "mem-bbbb-2222", "text": "Likes tea"},
        _item("mem-aaaa-1111", "Lives in Paris"),  # the neighbour of two facts: shown once
    ]
    facts = [ExtractedFact(text="Lives in Berlin", observed_at=datetime(2024, 5, 1)), "Likes cats"]
    prompt = build_decision_messages(facts, neighbours, now=NOW)
    assert prompt.id_map == ["mem-aaaa-1111", "mem-bbbb-2222"]
    text = "".join(m["content"] for m in prompt.messages)
    assert "mem-aaaa" not in text and "mem-bbbb" not in text
    block = parse_input_block(prompt.messages)
    assert block["task"] == "decide"
    assert block["memories"] == [
        {"id": "0", "text": "Lives in Paris", "observed_at": "2024-05-02T12:00+00:00",
         "valid_to": None},
        {"id": "1", "text": "Likes tea", "valid_to": None},
    ]  # fmt: skip
    assert block["facts"] == [
        {"index": 0, "text": "Lives in Berlin", "observed_at": "2024-05-01T00:00"},
        {"index": 1, "text": "Likes cats", "observed_at": "2024-05-02T12:00+00:00"},
    ]
    system = prompt.messages[0]["content"]
    assert '"invalidate"' in system and '"outdated"' in system and "target_fact" in system


def test_decision_prompt_shows_valid_time_of_facts_and_memories():
    ended = MemoryItem(
        id="m-old",
        text="Lives in Rome",
        created_at=NOW,
        updated_at=NOW,
        observed_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        invalid_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
    )
    fact = ExtractedFact(
        text="Lives in Oslo",
        observed_at=datetime(2024, 5, 1),
        valid_from=datetime(2024, 2, 1),  # the date the message gives wins
    )
    block = parse_input_block(build_decision_messages([fact], [ended], now=NOW).messages)
    assert block["memories"] == [
        {"id": "0", "text": "Lives in Rome", "observed_at": "2024-01-01T00:00+00:00",
         "valid_to": "2024-03-01T00:00+00:00"},
    ]  # fmt: skip
    assert block["facts"][0]["observed_at"] == "2024-02-01T00:00"


def test_decision_prompt_without_neighbours():
    prompt = build_decision_messages(["Likes cats"], [], now=NOW)
    assert prompt.id_map == [] and parse_input_block(prompt.messages)["memories"] == []


# --- answer schemas ------------------------------------------------------------------------


def test_extraction_answer_is_lenient_where_it_costs_nothing():
    answer = ExtractionAnswer.model_validate(
        {
            "facts": [
                "Likes tea",
                {"text": "  Lives in Oslo ", "observed_at": "2024-05-01"},
                {"text": "Name is Al", "observed_at": "2024-05-01T10:00:00Z"},
                {"text": "Has a cat", "observed_at": "last tuesday"},
                {"text": "   "},
                "",
            ],
            "extra": "ignored",
        }
    )
    assert [f.text for f in answer.facts] == [
        "Likes tea",
        "Lives in Oslo",
        "Name is Al",
        "Has a cat",
    ]
    assert answer.facts[1].observed_at == datetime(2024, 5, 1)
    assert answer.facts[2].observed_at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert answer.facts[3].observed_at is None  # unparseable time: dropped, not re-asked


@pytest.mark.parametrize("bad", [{}, {"facts": "Likes tea"}, {"facts": [{"txt": "x"}]}])
def test_extraction_answer_rejects_wrong_shapes(bad):
    with pytest.raises(ValidationError):
        ExtractionAnswer.model_validate(bad)


def test_decision_coercions():
    d = Decision.model_validate({"fact": "1", "action": " UPDATE ", "target": "2", "text": " x "})
    assert (d.fact, d.action, d.target, d.text) == (1, "update", 2, "x")
    assert Decision.model_validate({"fact": 0, "action": "DELETE", "target": 0}).action == (
        "invalidate"
    )
    assert Decision.model_validate({"fact": 0, "action": "NOOP"}).action == "none"
    assert Decision.model_validate({"fact": 0, "action": "add", "target": "null"}).target is None
    assert Decision.model_validate({"fact": 0, "action": "add", "target": "mem-1"}).target == -1
    with pytest.raises(ValidationError):
        Decision.model_validate({"fact": 0, "action": "merge"})


# --- mapping decisions back ----------------------------------------------------------------

FACTS = [
    ExtractedFact(text="Lives in Berlin", observed_at=datetime(2024, 5, 1)),
    ExtractedFact(text="Likes green tea"),
    ExtractedFact(text="Name is Bob"),
]
IDS = ["real-0", "real-1", "real-2"]


def _answer(*decisions):
    return DecisionAnswer.model_validate({"decisions": list(decisions)})


def test_each_action_maps_to_its_relation():
    relations = map_relations(
        _answer(
            {"fact": 0, "action": "invalidate", "target": 0, "text": "Lives in Berlin",
             "reason": "moved"},
            {"fact": 1, "action": "update", "target": "1", "text": "Likes green tea",
             "reason": "more specific"},
            {"fact": 2, "action": "none", "target": 2, "reason": "known"},
            {"fact": 2, "action": "outdated", "target_fact": 0, "reason": "older"},
        ),
        IDS,
        FACTS,
    )  # fmt: skip
    assert relations == [
        Relation(0, "contradicts", "real-0", None, "Lives in Berlin", "moved"),
        Relation(1, "refines", "real-1", None, "Likes green tea", "more specific"),
        Relation(2, "same", "real-2", None, None, "known"),
        Relation(2, "contradicts", None, 0, None, "older"),
    ]


def test_add_and_none_without_target():
    relations = map_relations(
        _answer({"fact": 2, "action": "add"}, {"fact": 1, "action": "none"}),
        IDS,
        FACTS,
        unmatched="skip",
    )
    assert relations == [Relation(1, "skip"), Relation(2, None)]


def test_unknown_ids_are_dropped_and_logged(caplog):
    caplog.set_level(logging.WARNING, logger="agentmem_plugins")
    relations = map_relations(
        _answer(
            {"fact": 0, "action": "invalidate", "target": 7},  # out of range
            {"fact": 1, "action": "update", "target": "mem-123"},  # a real-looking id
            {"fact": 2, "action": "none", "target": -3},
            {"fact": 9, "action": "add"},  # no such fact
            {"fact": 0, "action": "invalidate", "target_fact": 5},  # no such fact
            {"fact": 1, "action": "invalidate", "target_fact": 1},  # itself
        ),
        IDS,
        FACTS,
        unmatched="skip",
    )
    assert relations == []
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unknown memory id" in m for m in messages) == 3
    assert sum("unknown fact index" in m for m in messages) == 2
    assert any("unknown fact 9" in m for m in messages)
    assert all(r.name == "agentmem_plugins" for r in caplog.records)


def test_a_fact_left_without_a_valid_decision_is_new_information_by_default():
    relations = map_relations(_answer({"fact": 0, "action": "update", "target": 42}), IDS, FACTS)
    assert relations == [Relation(i, None, reason="no decision from the model") for i in range(3)]


def test_update_or_contradiction_without_target_is_dropped():
    relations = map_relations(
        _answer(
            {"fact": 0, "action": "update"},
            {"fact": 1, "action": "invalidate"},
            {"fact": 1, "action": "outdated"},
        ),
        IDS,
        FACTS[:2],
        unmatched="skip",
    )
    assert relations == []


def test_one_memory_is_refined_at_most_once_and_a_fact_refines_once(caplog):
    caplog.set_level(logging.WARNING, logger="agentmem_plugins")
    relations = map_relations(
        _answer(
            {"fact": 0, "action": "update", "target": 0, "text": "Lives in Berlin, Germany"},
            {"fact": 1, "action": "update", "target": 0, "text": "merged"},
            {"fact": 0, "action": "update", "target": 2},
        ),
        IDS,
        FACTS[:2],
    )
    assert [(r.fact, r.kind, r.memory_id) for r in relations] == [
        (0, "refines", "real-0"),
        (1, None, None),
    ]
    assert sum("already updated" in r.getMessage() for r in caplog.records) == 2


def test_map_relations_accepts_a_plain_list_and_string_facts():
    relations = map_relations([Decision(fact=0, action="none")], [], ["Likes tea"])
    assert relations == [Relation(0, "skip")]
    with pytest.raises(ValueError):
        map_relations([], [], [], unmatched="maybe")

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
    map_decisions,
    parse_input_block,
)
from agentmem_plugins.infer.schema import (
    AddOp,
    Decision,
    DecisionAnswer,
    ExtractedFact,
    ExtractionAnswer,
    InvalidateOp,
    NoneOp,
    UpdateOp,
)

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
        {"id": "0", "text": "Lives in Paris", "observed_at": "2024-05-02T12:00+00:00"},
        {"id": "1", "text": "Likes tea"},
    ]
    assert block["facts"] == [
        {"index": 0, "text": "Lives in Berlin", "observed_at": "2024-05-01T00:00"},
        {"index": 1, "text": "Likes cats", "observed_at": "2024-05-02T12:00+00:00"},
    ]
    assert '"invalidate"' in prompt.messages[0]["content"]


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


def test_each_action_maps_to_its_operation():
    ops = map_decisions(
        _answer(
            {
                "fact": 0,
                "action": "invalidate",
                "target": 0,
                "text": "Lives in Berlin",
                "reason": "moved",
            },
            {
                "fact": 1,
                "action": "update",
                "target": "1",
                "text": "Likes green tea",
                "reason": "more specific",
            },
            {"fact": 2, "action": "none", "target": 2, "reason": "known"},
        ),
        IDS,
        FACTS,
    )
    when = datetime(2024, 5, 1)
    assert ops == [
        InvalidateOp(0, "real-0", when, "moved"),
        AddOp(0, "Lives in Berlin", when, "moved"),
        UpdateOp(1, "real-1", "Likes green tea", None, "more specific"),
        NoneOp(2, "real-2", "known"),
    ]


def test_add_uses_the_fact_text_when_the_model_gives_none():
    ops = map_decisions(_answer({"fact": 2, "action": "add"}), IDS, FACTS, unmatched="skip")
    assert ops == [AddOp(2, "Name is Bob", None, None)]


def test_unknown_ids_are_dropped_and_logged(caplog):
    caplog.set_level(logging.WARNING, logger="agentmem_plugins")
    ops = map_decisions(
        _answer(
            {"fact": 0, "action": "invalidate", "target": 7},  # out of range
            {"fact": 1, "action": "update", "target": "mem-123"},  # a real-looking id
            {"fact": 2, "action": "none", "target": -3},
            {"fact": 9, "action": "add"},  # no such fact
        ),
        IDS,
        FACTS,
        unmatched="skip",
    )
    assert ops == []
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unknown memory id" in m for m in messages) == 3
    assert any("unknown fact 9" in m for m in messages)
    assert all(r.name == "agentmem_plugins" for r in caplog.records)


def test_a_fact_left_without_a_valid_decision_is_added_by_default():
    ops = map_decisions(_answer({"fact": 0, "action": "update", "target": 42}), IDS, FACTS)
    assert [type(op) for op in ops] == [AddOp, AddOp, AddOp]
    assert [op.text for op in ops] == [f.text for f in FACTS]


def test_update_or_invalidate_without_target_is_dropped():
    ops = map_decisions(
        _answer({"fact": 0, "action": "update"}, {"fact": 1, "action": "invalidate"}),
        IDS,
        FACTS[:2],
        unmatched="skip",
    )
    assert ops == []


def test_one_memory_is_changed_at_most_once(caplog):
    caplog.set_level(logging.WARNING, logger="agentmem_plugins")
    ops = map_decisions(
        _answer(
            {"fact": 0, "action": "invalidate", "target": 0},
            {"fact": 1, "action": "update", "target": 0, "text": "merged"},
        ),
        IDS,
        FACTS[:2],
    )
    assert [type(op) for op in ops] == [InvalidateOp, AddOp, AddOp]
    assert ops[2] == AddOp(1, "Likes green tea", None, "no decision from the model")
    assert any("already changed" in r.getMessage() for r in caplog.records)


def test_several_invalidations_add_the_fact_once():
    ops = map_decisions(
        _answer(
            {"fact": 0, "action": "invalidate", "target": 0},
            {"fact": 0, "action": "invalidate", "target": 2},
            {"fact": 0, "action": "add"},
        ),
        IDS,
        FACTS[:1],
    )
    assert [type(op) for op in ops] == [InvalidateOp, InvalidateOp, AddOp]
    assert [op.memory_id for op in ops[:2]] == ["real-0", "real-2"]


def test_update_wins_over_add_and_none_for_one_fact():
    ops = map_decisions(
        _answer(
            {"fact": 0, "action": "none", "target": 1},
            {"fact": 0, "action": "update", "target": 0, "text": "Lives in Berlin, Germany"},
            {"fact": 0, "action": "add"},
            {"fact": 0, "action": "update", "target": 2},  # a second update: dropped
        ),
        IDS,
        FACTS[:1],
    )
    assert ops == [UpdateOp(0, "real-0", "Lives in Berlin, Germany", datetime(2024, 5, 1), None)]


def test_map_decisions_accepts_a_plain_list_and_string_facts():
    ops = map_decisions([Decision(fact=0, action="none")], [], ["Likes tea"])
    assert ops == [NoneOp(0, None, None)]
    with pytest.raises(ValueError):
        map_decisions([], [], [], unmatched="maybe")

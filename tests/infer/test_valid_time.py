"""Valid time drives reconciliation (DESIGN invariant 8): delivery order never matters."""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmem_plugins import AsyncMemory
from agentmem_plugins.infer.timeline import NewFact, Relation, StoredFact, reconcile
from agentmem_plugins.llms import RuleBasedChatModel, ScriptedChatModel


def month(m: int, day: int = 1) -> datetime:
    return datetime(2024, m, day, tzinfo=timezone.utc)


def said(text: str, when: datetime) -> dict:
    return {"role": "user", "content": text, "observed_at": when}


async def intervals(memory: AsyncMemory, user: str) -> dict[str, list[tuple]]:
    """Per fact text, its validity intervals, adjacent ones joined (a late restatement may
    split one interval into two rows)."""
    rows = await memory.get_all(user_id=user, include_invalidated=True, limit=None)
    spans: dict[str, list[tuple]] = {}
    for row in sorted(rows, key=lambda r: (r.text, r.observed_at)):
        start, end = row.observed_at, row.invalid_at
        if start == end:
            continue  # held for no time at all: history only
        out = spans.setdefault(row.text, [])
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return spans


async def test_a_late_older_fact_never_becomes_current(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=RuleBasedChatModel()) as memory:
        for city, m in [("Berlin", 1), ("Lisbon", 6), ("Porto", 3)]:
            await memory.add([said(f"I live in {city}.", month(m))], user_id="u")
        assert [m.text for m in await memory.get_all(user_id="u")] == ["Lives in Lisbon"]
        for m, expected in [(2, "Berlin"), (4, "Porto"), (7, "Lisbon")]:
            hits = await memory.search("where do they live", user_id="u", as_of=month(m))
            assert [h.text for h in hits] == [f"Lives in {expected}"], m
        assert await intervals(memory, "u") == {
            "Lives in Berlin": [(month(1), month(3))],
            "Lives in Porto": [(month(3), month(6))],
            "Lives in Lisbon": [(month(6), None)],
        }
        porto = next(
            m
            for m in await memory.get_all(user_id="u", include_invalidated=True)
            if m.text == "Lives in Porto"
        )
        assert [h.event for h in await memory.history(porto.id)] == ["ADD", "INVALIDATE"]
        assert "Lives in Lisbon" in (porto.invalid_reason or "")


async def test_contradictions_within_one_call_keep_every_intermediate_value(tmp_path) -> None:
    llm = RuleBasedChatModel()
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        result = await memory.add(
            [
                said("I live in Oslo.", month(9)),  # listed first, observed last
                said("I live in Rome.", month(8)),
                said("I live in Bergen.", month(8, 15)),
            ],
            user_id="u",
        )
        assert [m.text for m in await memory.get_all(user_id="u")] == ["Lives in Oslo"]
        assert await intervals(memory, "u") == {
            "Lives in Rome": [(month(8), month(8, 15))],
            "Lives in Bergen": [(month(8, 15), month(9))],
            "Lives in Oslo": [(month(9), None)],
        }
        events = [(e.event, e.text) for e in result.results]
        assert events.count(("ADD", "Lives in Rome")) == 1
        assert events.count(("INVALIDATE", "Lives in Rome")) == 1
        assert events.count(("INVALIDATE", "Lives in Bergen")) == 1
        rows = await memory.get_all(user_id="u", include_invalidated=True)
        rome = next(r for r in rows if r.text == "Lives in Rome")
        assert [h.event for h in await memory.history(rome.id)] == ["ADD", "INVALIDATE"]


async def test_a_newer_fact_still_invalidates_and_a_restatement_splits_nothing(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=RuleBasedChatModel()) as memory:
        await memory.add([said("I live in Paris.", month(1))], user_id="u")
        await memory.add([said("I live in Paris.", month(4))], user_id="u")  # restated
        moved = await memory.add([said("I live in Rome.", month(6))], user_id="u")
        assert sorted(e.event for e in moved.results) == ["ADD", "INVALIDATE"]
        # arrives late, between the two Paris statements: the later one still holds
        # after it, as in time order
        late = await memory.add([said("I live in Oslo.", month(2))], user_id="u")
        assert sorted(e.event for e in late.results) == ["ADD", "INVALIDATE", "INVALIDATE"]
        assert await intervals(memory, "u") == {
            "Lives in Paris": [(month(1), month(2)), (month(4), month(6))],
            "Lives in Oslo": [(month(2), month(4))],
            "Lives in Rome": [(month(6), None)],
        }
        assert [m.text for m in await memory.get_all(user_id="u")] == ["Lives in Rome"]


async def test_each_caller_of_a_coalesced_extraction_gets_only_its_own_events(tmp_path) -> None:
    llm = RuleBasedChatModel(latency_s=0.2, record=True)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        first = asyncio.create_task(memory.add([said("I play chess.", month(1))], user_id="u"))
        await asyncio.sleep(0.05)  # the first extraction is in flight: the rest coalesce
        texts = ["I live in Rome.", "I like tea.", "I live in Oslo.", "Hello!"]
        results = await asyncio.gather(
            *(memory.add([said(text, month(2 + i))], user_id="u") for i, text in enumerate(texts))
        )
        await first
        extractions = [c for c in llm.calls if "extract_and_decide" in c.messages[-1]["content"]]
        assert len(extractions) == 2  # the four later calls shared one extraction
        rome, tea, oslo, hello = ([(e.event, e.text) for e in r.results] for r in results)
        assert rome == [("ADD", "Lives in Rome")]
        assert tea == [("ADD", "Likes tea")]
        assert sorted(oslo) == [("ADD", "Lives in Oslo"), ("INVALIDATE", "Lives in Rome")]
        assert hello == []


def test_reconcile_is_pure_and_orders_by_valid_time() -> None:
    stored = [StoredFact("m1", "Lives in Lisbon", month(6))]
    plan = reconcile(
        [NewFact(0, "Lives in Porto", month(3))],
        stored,
        [Relation(0, "contradicts", memory_id="m1")],
    )
    assert [(a.text, a.start, a.end) for a in plan.added] == [
        ("Lives in Porto", month(3).replace(tzinfo=None), month(6).replace(tzinfo=None))
    ]
    assert plan.ended == [] and plan.updated == []


# --- any delivery order gives the same timeline ---------------------------------------------

CITIES = ["Paris", "Rome", "Oslo"]
COLOURS = ["blue", "green"]
STATEMENT = st.one_of(
    st.sampled_from([f"I live in {c}." for c in CITIES]),
    st.sampled_from([f"My favourite colour is {c}." for c in COLOURS]),
    st.just("I play chess."),
)


async def _timeline(memory: AsyncMemory, user: str, deliveries: list[list[tuple]]) -> tuple:
    for batch in deliveries:
        await memory.add([said(text, when) for text, when in batch], user_id=user)
    current = sorted(m.text for m in await memory.get_all(user_id=user))
    return current, await intervals(memory, user)


@pytest.fixture(scope="module")
def store_loop():
    """One store on one event loop (in a thread) for every example: opening a store per
    example would make this test slow."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    tmp = tempfile.TemporaryDirectory()

    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    async def make():
        return AsyncMemory(
            path=tmp.name, embedder="hash", llm=RuleBasedChatModel(), neighbours_per_fact=10
        )

    memory = run(make())
    yield memory, run
    run(memory.close())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    tmp.cleanup()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(statements=st.lists(STATEMENT, min_size=1, max_size=7), data=st.data())
def test_any_delivery_order_gives_the_time_ordered_timeline(store_loop, statements, data) -> None:
    memory, run = store_loop
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    messages = [(text, start + timedelta(days=7 * i)) for i, text in enumerate(statements)]
    order = data.draw(st.permutations(messages), label="delivery order")
    # the permuted messages arrive in calls of one to three messages
    sizes = data.draw(
        st.lists(st.integers(1, 3), min_size=len(order), max_size=len(order)), label="calls"
    )
    batches, i = [], 0
    for size in sizes:
        if i >= len(order):
            break
        batches.append(order[i : i + size])
        i += size
    user = uuid.uuid4().hex
    expected = run(_timeline(memory, f"{user}-in-order", [[m] for m in messages]))
    assert run(_timeline(memory, f"{user}-permuted", batches)) == expected


async def test_facts_are_placed_by_message_index_time_or_last_message(tmp_path) -> None:
    decisions = [{"fact": 1, "action": "invalidate", "target_fact": 0}]
    llm = ScriptedChatModel(
        [
            json.dumps(
                {
                    "facts": [
                        {"text": "Lives in Rome", "observed_at": "2024-01-01T00:00"},  # by time
                        {"text": "Lives in Oslo"},  # nothing given: the last message
                    ],
                    "decisions": decisions,
                }
            ),
        ]
    )
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        await memory.add(
            [said("I live in Rome.", month(1)), said("I live in Oslo.", month(3))], user_id="u"
        )
        assert await intervals(memory, "u") == {
            "Lives in Rome": [(month(1), month(3))],
            "Lives in Oslo": [(month(3), None)],
        }


async def test_valid_from_given_by_the_model_counts_when_not_after_the_message(tmp_path) -> None:
    facts = [
        {"text": "Lives in Porto", "message": 0, "valid_from": "2024-03-01"},
        {"text": "Plays chess", "message": 0, "valid_from": "2024-09-01"},  # after: ignored
    ]
    llm = ScriptedChatModel([json.dumps({"facts": facts, "decisions": []})])  # no decision: adds
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        await memory.add([said("I've lived in Porto since March. I play chess.", month(5))],
                         user_id="u")  # fmt: skip
        assert await intervals(memory, "u") == {
            "Lives in Porto": [(month(3), None)],
            "Plays chess": [(month(5), None)],
        }


async def test_hedging_is_configured_per_store(tmp_path) -> None:
    llm = RuleBasedChatModel()
    async with AsyncMemory(
        path=tmp_path, embedder="hash", llm=llm, llm_hedge_percentile=95
    ) as memory:
        await memory.add("I live in Rome.", user_id="u")
        assert memory._infer is not None and memory._infer._hedge is not None
        assert memory._infer._hedge.percentile == 95

"""Intelligent mode end to end: extraction, reconciliation, faults, pending work, scopes."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest

from agentmem_plugins import AsyncMemory, ConfigError, LLMError
from agentmem_plugins.infer.prompts import parse_input_block
from agentmem_plugins.llms import RuleBasedChatModel, ScriptedChatModel

MAY_2 = datetime(2024, 5, 2, 9, 0, tzinfo=timezone.utc)


def fast_retries(**extra):
    return {"llm_max_retries": 6, "llm_retry_max_wait_s": 0.05, **extra}


@pytest.fixture
async def rules_mem(tmp_path, backend):
    memory = AsyncMemory(
        path=tmp_path, embedder="hash", llm=RuleBasedChatModel(record=True), **backend
    )
    yield memory
    await memory.close()


async def test_facts_are_extracted_and_infer_defaults_on_with_an_llm(rules_mem) -> None:
    result = await rules_mem.add(
        [
            {"role": "user", "content": "Hi there! My name is Bob. I live in Paris."},
            {"role": "assistant", "content": "Nice to meet you, Bob."},
        ],
        user_id="bob",
    )
    assert sorted(e.text for e in result.results) == ["Lives in Paris", "Name is Bob"]
    assert {e.event for e in result.results} == {"ADD"}
    # one call extracts both facts and relates them to each other (they may contradict)
    assert rules_mem.llm.call_count == 1
    assert await rules_mem.count(user_id="bob") == 2
    verbatim = await rules_mem.add("stored as is", user_id="bob", infer=False)
    assert verbatim.results[0].text == "stored as is"


async def test_contradiction_invalidates_old_fact_and_history_shows_both(rules_mem) -> None:
    first = await rules_mem.add("I live in Paris.", user_id="u")
    old_id = first.results[0].id
    second = await rules_mem.add("I live in Berlin.", user_id="u")
    events = {e.event: e for e in second.results}
    assert events["INVALIDATE"].id == old_id and events["ADD"].text == "Lives in Berlin"
    assert rules_mem.llm.call_count == 2  # one call per add: extract and decide at once
    assert [h.text for h in await rules_mem.search("lives", user_id="u")] == ["Lives in Berlin"]
    everything = await rules_mem.search("lives", user_id="u", include_invalidated=True)
    assert {h.text for h in everything} == {"Lives in Paris", "Lives in Berlin"}
    old = await rules_mem.get(old_id)
    assert old.invalid_at is not None and "Berlin" in old.invalid_reason
    history = await rules_mem.history(old_id)
    assert [h.event for h in history] == ["ADD", "INVALIDATE"]
    assert history[1].reason and history[0].new_text == "Lives in Paris"


async def test_duplicates_are_ignored_not_stored_twice(rules_mem) -> None:
    said = [{"content": "I like green tea.", "observed_at": MAY_2}]
    await rules_mem.add(said, user_id="u")
    again = await rules_mem.add(said, user_id="u")  # the same statement again
    assert [e.event for e in again.results] == ["NONE"]
    assert await rules_mem.count(user_id="u") == 1
    # said again later: one valid memory; the restatement is kept as its own row so a
    # contradiction that arrives late can still fall between the two (valid time)
    later = await rules_mem.add("I like green tea.", user_id="u")
    assert sorted(e.event for e in later.results) == ["ADD", "INVALIDATE"]
    assert [m.text for m in await rules_mem.get_all(user_id="u")] == ["Likes green tea"]


async def test_relative_dates_resolve_against_observation_time(rules_mem) -> None:
    result = await rules_mem.add(
        [{"role": "user", "content": "I moved to Lisbon yesterday.", "observed_at": MAY_2}],
        user_id="u",
    )
    assert "2024-05-01" in result.results[0].text
    item = await rules_mem.get(result.results[0].id)
    assert item.observed_at == MAY_2


async def test_point_in_time_queries_show_the_past(rules_mem) -> None:
    march = datetime(2024, 3, 1, tzinfo=timezone.utc)
    june = datetime(2024, 6, 1, tzinfo=timezone.utc)
    await rules_mem.add([{"content": "I live in Paris.", "observed_at": march}], user_id="u")
    await rules_mem.add([{"content": "I live in Rome.", "observed_at": june}], user_id="u")
    in_april = await rules_mem.search("lives", user_id="u", as_of=datetime(2024, 4, 1))
    assert [h.text for h in in_april] == ["Lives in Paris"]
    in_july = await rules_mem.search("lives", user_id="u", as_of=datetime(2024, 7, 1))
    assert [h.text for h in in_july] == ["Lives in Rome"]


async def test_unknown_ids_from_the_llm_are_ignored_and_logged(tmp_path, caplog) -> None:
    script = ScriptedChatModel(
        [
            json.dumps({"facts": [{"text": "Likes jazz"}], "decisions": []}),
            json.dumps(
                {
                    "facts": [{"text": "Likes bebop jazz"}],
                    "decisions": [
                        {"fact": 0, "action": "update", "target": 7, "text": "Likes bebop jazz"},
                        {"fact": 0, "action": "invalidate", "target": "abc"},
                    ],
                }
            ),
        ]
    )
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=script) as memory:
        first = await memory.add("I like jazz", user_id="u")
        with caplog.at_level("WARNING", logger="agentmem_plugins"):
            second = await memory.add("I like bebop jazz", user_id="u")
        assert "unknown memory id" in caplog.text
        # the invented ids changed nothing; the fact is not lost either
        assert (await memory.get(first.results[0].id)).invalid_at is None
        assert [e.event for e in second.results] == ["ADD"]
        assert await memory.count(user_id="u") == 2


async def test_every_fault_kind_is_survived(tmp_path, llm_server_factory) -> None:
    server = llm_server_factory(
        error_rate=0.3,
        malformed_rate=0.15,
        timeout_rate=0.1,
        hang_s=2.0,
        retry_after_s=0.01,
        seed=3,
    )
    async with AsyncMemory(
        path=tmp_path,
        embedder="hash",
        llm_base_url=server.base_url,
        llm_model="rules",
        llm_timeout_s=0.3,
        llm_max_reasks=4,
        **fast_retries(llm_max_retries=10),
    ) as memory:
        results = await asyncio.gather(
            *(
                memory.add(f"I live in City{u}. My dog is called Rex{u}.", user_id=f"u{u}")
                for u in range(40)
            )
        )
        assert all(r.pending_id is None for r in results)
        assert await memory.count(all_scopes=True) == 80
        outcomes = server.stats()["by_outcome"]
        for kind in ("rate_limited", "server_error", "malformed", "timeout"):
            assert outcomes.get(kind, 0) > 0, (kind, outcomes)


async def test_outage_longer_than_retries_parks_work_then_replays(tmp_path, llm_server) -> None:
    llm_server.configure(error_rate=1.0, rate_limit_share=0.0)
    async with AsyncMemory(
        path=tmp_path,
        embedder="hash",
        llm_base_url=llm_server.base_url,
        llm_model="rules",
        **fast_retries(llm_max_retries=2),
    ) as memory:
        parked = await memory.add("I live in Oslo.", user_id="u")
        assert parked.pending_id and parked.results == []
        [work] = await memory.pending()
        assert work.id == parked.pending_id and "500" in work.error and work.attempts == 1
        assert work.messages[0].content == "I live in Oslo."
        assert await memory.count(user_id="u") == 0  # nothing half-applied

        llm_server.configure(error_rate=0.0)
        [replayed] = await memory.retry_pending()
        assert [e.text for e in replayed.results] == ["Lives in Oslo"]
        assert await memory.pending() == []
        assert await memory.count(user_id="u") == 1


async def test_pending_work_survives_a_restart(tmp_path, llm_server, backend) -> None:
    llm_server.configure(error_rate=1.0, rate_limit_share=0.0)
    settings = dict(
        path=tmp_path,
        embedder="hash",
        **backend,
        llm_base_url=llm_server.base_url,
        llm_model="rules",
        **fast_retries(llm_max_retries=1),
    )
    async with AsyncMemory(**settings) as memory:
        await memory.add("I work at Initech.", user_id="u")
    llm_server.configure(error_rate=0.0)
    async with AsyncMemory(**settings) as memory:
        assert len(await memory.pending()) == 1
        await memory.retry_pending()
        assert [m.text for m in await memory.get_all(user_id="u")] == ["Works at Initech"]


async def test_a_4xx_is_not_retried(tmp_path) -> None:
    from agentmem_plugins import LLMRequestError

    script = ScriptedChatModel([LLMRequestError("401 bad key"), "never reached"])
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=script) as memory:
        result = await memory.add("I live in Oslo.", user_id="u")
        assert result.pending_id is not None
        assert script.remaining == 1
        assert "401" in (await memory.pending())[0].error


async def test_wait_false_hands_over_and_flush_waits(tmp_path) -> None:
    llm = RuleBasedChatModel(latency_s=0.05)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        handed = await memory.add("I live in Kyoto.", user_id="u", wait=False)
        assert handed.pending_id is not None
        await memory.flush()
        assert [m.text for m in await memory.get_all(user_id="u")] == ["Lives in Kyoto"]
        assert await memory.pending() == []


async def test_queued_messages_of_one_scope_share_llm_calls(tmp_path) -> None:
    llm = RuleBasedChatModel(latency_s=0.05)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        await asyncio.gather(
            *(memory.add(f"My hobby number {i} is chess{i}.", user_id="u") for i in range(20))
        )
        # the first call runs alone; the other 19 are coalesced while it is in flight
        assert llm.call_count <= 4, llm.call_count
        assert await memory.count(user_id="u") == 20


async def test_scopes_run_concurrently_and_stay_isolated(tmp_path) -> None:
    llm = RuleBasedChatModel(latency_s=0.1)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        started = asyncio.get_running_loop().time()
        await asyncio.gather(
            *(memory.add(f"I live in Town{u}.", user_id=f"user{u}") for u in range(30))
        )
        elapsed = asyncio.get_running_loop().time() - started
        assert elapsed < 30 * 0.1  # not serialised across scopes (generous bound)
        for u in range(30):
            texts = [m.text for m in await memory.get_all(user_id=f"user{u}")]
            assert texts == [f"Lives in Town{u}"]  # no other user's fact, no invalidation


async def test_same_scope_updates_never_race(tmp_path) -> None:
    llm = RuleBasedChatModel(latency_s=0.02)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        for _ in range(3):
            await asyncio.gather(
                *(memory.add(f"I live in Place{i}.", user_id="u") for i in range(5))
            )
        valid = await memory.get_all(user_id="u")
        assert len([m for m in valid if m.text.startswith("Lives in")]) == 1


async def test_infer_true_without_llm_is_a_clear_error(amem) -> None:
    with pytest.raises(ConfigError, match="infer=True needs an LLM"):
        await amem.add("I live in Oslo.", user_id="u", infer=True)
    assert issubclass(LLMError, Exception)


async def test_handed_over_messages_keep_their_order(tmp_path) -> None:
    llm = RuleBasedChatModel(latency_s=0.01)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        for round_ in range(3):
            await asyncio.gather(
                *(memory.add(f"I live in Town{i}.", user_id="u", wait=False) for i in range(8))
            )
            await memory.flush()
            valid = [m.text for m in await memory.get_all(user_id="u")]
            assert valid == ["Lives in Town7"], (round_, valid)
        assert await memory.pending() == []


@pytest.mark.parametrize(("quiet_ms", "calls"), [(25.0, 1), (0.0, 2)])
async def test_a_burst_of_hand_overs_is_extracted_in_one_call(tmp_path, quiet_ms, calls) -> None:
    # each hand-over returns once its pending record is durable, so an agent's burst
    # arrives a few milliseconds apart; taken at once, the first message went alone
    llm = RuleBasedChatModel(latency_s=0.05)
    async with AsyncMemory(
        path=tmp_path, embedder="hash", llm=llm, infer_handover_quiet_ms=quiet_ms
    ) as memory:
        for town in ("Oslo", "Lima", "Kyoto", "Porto"):
            await memory.add(f"I live in {town}.", user_id="u", wait=False)
        await memory.flush()
        assert llm.call_count == calls
        assert [m.text for m in await memory.get_all(user_id="u")] == ["Lives in Porto"]
        assert len(await memory.get_all(user_id="u", include_invalidated=True)) == 4
        assert await memory.pending() == []


async def test_a_waiting_caller_skips_the_quiet_wait_a_lone_hand_over_waits_half_a_second(
    tmp_path,
) -> None:
    llm = RuleBasedChatModel()
    async with AsyncMemory(
        path=tmp_path, embedder="hash", llm=llm, infer_handover_quiet_ms=500
    ) as memory:
        started = asyncio.get_running_loop().time()
        await memory.add("I live in Oslo.", user_id="u")  # wait=True
        assert asyncio.get_running_loop().time() - started < 0.9
        handed = asyncio.get_running_loop().time()
        await memory.add("I live in Lima.", user_id="u", wait=False)
        await memory.flush()  # alone in its queue: taken after the quiet wait, <= 0.5 s
        assert 0.4 <= asyncio.get_running_loop().time() - handed < 0.9
        assert [m.text for m in await memory.get_all(user_id="u")] == ["Lives in Lima"]


async def test_neighbours_of_many_facts_match_one_search_each(amem) -> None:
    import numpy as np

    await amem.add_many(
        {"text": f"fact {i} about topic {i % 7}", "user_id": "u"} for i in range(300)
    )
    queries = ["topic 3", "fact 12", "nothing alike here"]
    vectors = np.stack([amem.embedder.embed_query(q) for q in queries])
    batched = await amem._searcher.vector_many(vectors, {"user_id": "u"}, 5)
    for vector, hits in zip(vectors, batched, strict=True):
        single = await amem._searcher.vector(vector, {"user_id": "u"}, None, 5)
        assert [h.id for h in hits] == [h.id for h in single]
        assert [round(h.score, 5) for h in hits] == [round(h.score, 5) for h in single]


async def test_a_fact_whose_neighbours_were_not_shown_gets_a_second_decision(tmp_path) -> None:
    # the message shares no word with the stored "Lives in Paris", so the one call does not
    # show it; the extracted fact's own nearest memory is that one: the decision is asked
    # again, fact against it, and the contradiction is applied
    answer = {"facts": [{"text": "Lives in Berlin"}], "decisions": [{"fact": 0, "action": "add"}]}
    decide = {"decisions": [{"fact": 0, "action": "invalidate", "target": 2}]}
    script = ScriptedChatModel([json.dumps(answer), json.dumps(decide)])
    async with AsyncMemory(
        path=tmp_path, embedder="hash", llm=script, neighbours_per_fact=1
    ) as memory:
        paris = await memory.add("Lives in Paris", user_id="u", infer=False)
        await memory.add("Moved: xyzzy qwerty zork", user_id="u", infer=False)
        await memory.add("Likes xyzzy qwerty zork", user_id="u", infer=False)
        result = await memory.add("xyzzy qwerty zork!", user_id="u")
        assert script.remaining == 0  # the one call, then the decision alone
        assert memory._infer is not None and memory._infer.decision_calls == 1
        decision_prompt = parse_input_block(script.calls[1].messages)
        assert decision_prompt is not None and decision_prompt["task"] == "decide"
        assert decision_prompt["memories"][2]["text"] == "Lives in Paris"
        shown = parse_input_block(script.calls[0].messages)
        assert shown is not None and "Lives in Paris" not in str(shown["memories"])
        assert sorted(e.event for e in result.results) == ["ADD", "INVALIDATE"]
        assert (await memory.get(paris.results[0].id)).invalid_at is not None


async def test_one_call_relates_facts_to_the_neighbours_of_the_message(tmp_path) -> None:
    llm = RuleBasedChatModel(record=True)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        await memory.add("I live in Paris.", user_id="u")
        await memory.add("I live in Berlin.", user_id="u")
        assert llm.call_count == 2  # one call per add, none asked again
        assert memory._infer is not None and memory._infer.decision_calls == 0
        prompt = parse_input_block(llm.calls[1].messages)
        assert prompt is not None and prompt["task"] == "extract_and_decide"
        assert [m["text"] for m in prompt["memories"]] == ["Lives in Paris"]
        assert "observed_at" in prompt["memories"][0] and "valid_to" in prompt["memories"][0]
        assert [m.text for m in await memory.get_all(user_id="u")] == ["Lives in Berlin"]


async def test_handed_over_messages_are_recorded_in_group_commits(tmp_path) -> None:
    llm = RuleBasedChatModel(latency_s=0.5)  # still in flight when pending() reads
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        records = memory._stores.records
        written: list[int] = []
        cleared: list[int] = []
        add, delete = records.add_pending, records.delete_pending
        records.add_pending = lambda rows: (written.append(len(rows)), add(rows))[1]  # type: ignore[method-assign]
        records.delete_pending = lambda ids: (cleared.append(len(ids)), delete(ids))[1]  # type: ignore[method-assign]
        handed = await asyncio.gather(
            *(memory.add(f"I live in Town{u}.", user_id=f"user{u}", wait=False) for u in range(12))
        )
        # durable before the calls returned, in fewer transactions than calls
        assert sum(written) == 12 and len(written) < 12
        assert {p.id for p in await memory.pending()} == {h.pending_id for h in handed}
        await memory.flush()
        assert sum(cleared) == 12 and len(cleared) < 12
        assert await memory.pending() == []
        assert [m.text for m in await memory.get_all(user_id="user3")] == ["Lives in Town3"]


async def test_retry_pending_skips_work_whose_group_is_in_flight(tmp_path) -> None:
    # the handed-over message is being extracted (its pending record not yet cleared):
    # replaying it as well would extract it twice
    llm = RuleBasedChatModel(latency_s=0.3)
    async with AsyncMemory(path=tmp_path, embedder="hash", llm=llm) as memory:
        await memory.add("I live in Kyoto.", user_id="u", wait=False)
        while llm.call_count == 0:
            await asyncio.sleep(0.01)
        assert len(await memory.pending()) == 1  # recorded, still in flight
        assert await memory.retry_pending() == []
        await memory.flush()
        assert llm.call_count == 1
        assert [m.text for m in await memory.get_all(user_id="u")] == ["Lives in Kyoto"]
        assert await memory.pending() == []

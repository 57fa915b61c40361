"""call_json: transient errors retried, 4xx never, malformed answers re-asked, bounds kept."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from agentmem_plugins._errors import (
    ConfigError,
    LLMRequestError,
    LLMResponseError,
    LLMTransientError,
)
from agentmem_plugins.infer.schema import ExtractionAnswer
from agentmem_plugins.llms import (
    ConcurrencyLimit,
    LatencyHedge,
    ScriptedChatModel,
    call_json,
    parse_json_answer,
    retry_wait,
)

MSGS = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"}]
GOOD = '{"facts": [{"text": "Likes tea"}]}'
FAST = {"max_wait_s": 0.01, "base_wait_s": 0.001}


async def test_success_first_time_uses_json_mode():
    llm = ScriptedChatModel([GOOD])
    answer = await call_json(llm, MSGS, schema=ExtractionAnswer, **FAST)
    assert [f.text for f in answer.facts] == ["Likes tea"]
    assert len(llm.calls) == 1 and llm.calls[0].json_mode
    assert llm.calls[0].messages == MSGS


async def test_transient_errors_are_retried_then_succeed():
    llm = ScriptedChatModel(
        [LLMTransientError("429"), LLMTransientError("500"), LLMTransientError("timeout"), GOOD]
    )
    answer = await call_json(llm, MSGS, schema=ExtractionAnswer, max_retries=3, **FAST)
    assert answer.facts[0].text == "Likes tea"
    assert len(llm.calls) == 4
    assert all(c.messages == MSGS for c in llm.calls)  # a retry resends the same conversation


async def test_transient_exhaustion_raises_the_last_error():
    llm = ScriptedChatModel([LLMTransientError(f"fail {i}") for i in range(3)])
    with pytest.raises(LLMTransientError, match="fail 2"):
        await call_json(llm, MSGS, schema=ExtractionAnswer, max_retries=2, **FAST)
    assert llm.remaining == 0 and len(llm.calls) == 3


async def test_zero_retries_means_one_attempt():
    llm = ScriptedChatModel([LLMTransientError("x"), GOOD])
    with pytest.raises(LLMTransientError):
        await call_json(llm, MSGS, schema=ExtractionAnswer, max_retries=0, **FAST)
    assert len(llm.calls) == 1


async def test_request_errors_are_never_retried():
    llm = ScriptedChatModel([LLMRequestError("401 bad key"), GOOD])
    with pytest.raises(LLMRequestError):
        await call_json(llm, MSGS, schema=ExtractionAnswer, max_retries=5, max_reasks=5, **FAST)
    assert len(llm.calls) == 1


async def test_other_exceptions_propagate_unretried():
    llm = ScriptedChatModel([RuntimeError("bug"), GOOD])
    with pytest.raises(RuntimeError):
        await call_json(llm, MSGS, schema=ExtractionAnswer, **FAST)
    assert len(llm.calls) == 1


async def test_malformed_answer_is_reasked_with_the_error_then_succeeds():
    llm = ScriptedChatModel(['{"facts": [', '{"wrong": 1}', GOOD])
    answer = await call_json(llm, MSGS, schema=ExtractionAnswer, max_reasks=2, **FAST)
    assert answer.facts[0].text == "Likes tea"
    assert len(llm.calls) == 3
    reask = llm.calls[1].messages
    assert reask[: len(MSGS)] == MSGS
    assert reask[-2] == {"role": "assistant", "content": '{"facts": ['}
    assert reask[-1]["role"] == "user" and "not valid JSON" in reask[-1]["content"]
    # the conversation does not grow with every re-ask: only the latest bad answer is shown
    assert len(llm.calls[2].messages) == len(MSGS) + 2
    assert "facts" in llm.calls[2].messages[-1]["content"]  # the schema error names the field


async def test_reask_exhaustion_raises_response_error():
    llm = ScriptedChatModel(["nope", "still nope", "never"])
    with pytest.raises(LLMResponseError, match="no valid answer after 3"):
        await call_json(llm, MSGS, schema=ExtractionAnswer, max_reasks=2, **FAST)
    assert len(llm.calls) == 3


async def test_response_error_from_the_model_is_reasked():
    llm = ScriptedChatModel([LLMResponseError("no content"), GOOD])
    answer = await call_json(llm, MSGS, schema=ExtractionAnswer, max_reasks=1, **FAST)
    assert answer.facts[0].text == "Likes tea"
    assert llm.calls[1].messages[-1]["role"] == "user"  # no assistant turn: there was no text


async def test_transient_errors_inside_a_reask_are_retried():
    llm = ScriptedChatModel(["bad", LLMTransientError("503"), GOOD])
    answer = await call_json(llm, MSGS, schema=ExtractionAnswer, max_reasks=1, **FAST)
    assert answer.facts[0].text == "Likes tea"
    assert len(llm.calls) == 3


async def test_retry_after_is_honoured():
    llm = ScriptedChatModel([LLMTransientError("429", retry_after=0.3), GOOD])
    start = time.monotonic()
    await call_json(llm, MSGS, schema=ExtractionAnswer, max_wait_s=5, base_wait_s=0.001)
    assert time.monotonic() - start >= 0.29


async def test_every_wait_is_capped_by_max_wait():
    llm = ScriptedChatModel([LLMTransientError("429", retry_after=600), GOOD])
    start = time.monotonic()
    await call_json(llm, MSGS, schema=ExtractionAnswer, max_wait_s=0.05, base_wait_s=0.001)
    assert time.monotonic() - start < 5  # generous: the point is "not 600 s"


async def test_concurrency_limit_bounds_calls_in_flight():
    state = {"now": 0, "peak": 0}

    async def slow(_messages, _json_mode):
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return GOOD

    llm = ScriptedChatModel([slow] * 20)
    limit = ConcurrencyLimit(3)
    results = await asyncio.gather(
        *(call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit, **FAST) for _ in range(20))
    )
    assert len(results) == 20
    assert state["peak"] == 3 == limit.peak
    assert limit.in_flight == 0


async def test_limit_is_not_held_during_backoff():
    limit = ConcurrencyLimit(1)
    first = ScriptedChatModel([LLMTransientError("429", retry_after=0.3), GOOD])
    second = ScriptedChatModel([GOOD])
    task = asyncio.create_task(
        call_json(first, MSGS, schema=ExtractionAnswer, limit=limit, max_wait_s=5)
    )
    await asyncio.sleep(0.05)  # first is now sleeping before its retry
    start = time.monotonic()
    await call_json(second, MSGS, schema=ExtractionAnswer, limit=limit, **FAST)
    assert time.monotonic() - start < 0.25  # did not wait for first's backoff to end
    await task


async def test_a_retry_takes_the_next_slot_before_calls_that_started_after_it():
    """The one slot is busy while the first call backs off after a 500; two calls
    started meanwhile queue for it. When it frees, the retry goes first (its call started
    first), then the others in the order they started."""
    limit = ConcurrencyLimit(1)
    order: list[str] = []
    gate = asyncio.Event()

    def answer(name: str):
        async def reply(_messages, _json_mode):
            order.append(name)
            return GOOD

        return reply

    async def holder(_messages, _json_mode):
        order.append("holder")
        await gate.wait()
        return GOOD

    def call(llm: ScriptedChatModel) -> asyncio.Task:
        return asyncio.create_task(
            call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit, base_wait_s=0.01)
        )

    retried = call(ScriptedChatModel([LLMTransientError("500"), answer("retry")]))
    await asyncio.sleep(0.005)  # its first request failed at once; it now backs off
    held = call(ScriptedChatModel([holder]))  # takes the free slot during the backoff
    await asyncio.sleep(0.005)
    later = [call(ScriptedChatModel([answer(f"later{n}")])) for n in range(2)]
    await asyncio.sleep(0.1)  # the backoff is over: the retry queues behind the later two
    gate.set()
    await asyncio.gather(retried, held, *later)
    assert order == ["holder", "retry", "later0", "later1"]
    assert limit.in_flight == 0


async def test_a_call_cancelled_while_queued_gives_no_slot_away():
    limit = ConcurrencyLimit(1)
    async with limit.slot(0.0):
        queued = asyncio.create_task(_hold(limit, 1.0))
        await asyncio.sleep(0)
        queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)
    assert limit.in_flight == 0
    async with limit.slot(2.0):  # the slot is free again, nobody else holds it
        assert limit.in_flight == 1
        assert await limit.hedge_slot() is not None  # the room of its own (one)
        assert limit.in_flight == 2


async def _hold(limit: ConcurrencyLimit, since: float) -> None:
    async with limit.slot(since):
        await asyncio.sleep(1)


def test_concurrency_limit_rejects_zero():
    with pytest.raises(ValueError):
        ConcurrencyLimit(0)


class _Point(BaseModel):
    x: int


@pytest.mark.parametrize(
    ("text", "expected"),
    [('{"x": 1}', 1), ('  {"x": 2}\n', 2), ('```json\n{"x": 3}\n```', 3), ('```\n{"x": 4}```', 4)],
)
def test_parse_json_answer_accepts_objects_and_one_fence(text, expected):
    assert parse_json_answer(text, _Point).x == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not valid JSON"),
        ('Sure! {"x": 1}', "not valid JSON"),
        ("[1, 2]", "not an object"),
        ('{"x": "seven"}', "does not match the schema"),
        ('{"y": 1}', "x: Field required"),
    ],
)
def test_parse_json_answer_rejects(text, message):
    with pytest.raises(LLMResponseError, match=message):
        parse_json_answer(text, _Point)


# --- fast recovery (issue 13) ----------------------------------------------------------------


def test_first_retry_comes_within_100_to_250_ms_then_backs_off():
    firsts = [retry_wait(1, 0.1, 20.0, None) for _ in range(500)]
    assert min(firsts) >= 0.1 and max(firsts) <= 0.25
    assert max(firsts) - min(firsts) > 0.05  # jittered
    seconds = [retry_wait(2, 0.1, 20.0, None) for _ in range(500)]
    assert min(seconds) >= 0.2 and max(seconds) <= 0.5
    assert 1.6 <= retry_wait(5, 0.1, 20.0, None) <= 4.0
    assert retry_wait(30, 0.1, 3.0, None) == 3.0  # every wait capped
    assert retry_wait(1, 0.1, 20.0, 1.5) == 1.5  # Retry-After honoured
    assert retry_wait(1, 0.1, 1.0, 60.0) == 1.0  # ... within the cap


async def test_a_malformed_answer_is_reasked_at_once_in_the_same_slot():
    limit = ConcurrencyLimit(1)
    order: list[str] = []

    def step(name, text):
        async def run(_messages, _json_mode):
            order.append(name)
            await asyncio.sleep(0.01)
            return text

        return run

    first = ScriptedChatModel([step("first", "not json"), step("first re-ask", GOOD)])
    other = ScriptedChatModel([step("other", GOOD)])
    task = asyncio.create_task(call_json(first, MSGS, schema=ExtractionAnswer, limit=limit))
    await asyncio.sleep(0.001)  # first holds the only slot; other queues behind it
    await call_json(other, MSGS, schema=ExtractionAnswer, limit=limit)
    await task
    assert order == ["first", "first re-ask", "other"]


async def test_a_slow_call_is_hedged_past_the_percentile_and_the_copy_wins():
    hedge = LatencyHedge(95, min_samples=5)
    for _ in range(10):
        hedge.record(0.02)

    async def hung(_messages, _json_mode):
        await asyncio.sleep(30)
        return GOOD

    llm = ScriptedChatModel([hung, GOOD])
    limit = ConcurrencyLimit(4)
    start = time.monotonic()
    answer = await call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit, hedge=hedge)
    assert answer.facts[0].text == "Likes tea"
    assert time.monotonic() - start < 2
    assert (hedge.hedged, hedge.hedge_wins) == (1, 1)
    assert limit.in_flight == 0  # the hung request was cancelled, both slots returned


def _known_hedge(seconds):
    """A hedge whose delay is known: three latencies of ``seconds`` recorded."""
    hedge = LatencyHedge(95, min_samples=3)
    for _ in range(3):
        hedge.record(seconds)
    return hedge


def _quick(seconds):
    async def run(_messages, _json_mode):
        await asyncio.sleep(seconds)
        return GOOD

    return run


async def _hung(_messages, _json_mode):
    await asyncio.sleep(30)
    return GOOD


async def test_a_call_sent_before_the_percentile_is_known_is_hedged_once_it_is():
    # a store's first wave: the hung request went out before any latency was known,
    # and used to wait for the whole client timeout
    hedge = LatencyHedge(95, min_samples=3)
    llm = ScriptedChatModel([_hung, _quick(0.01), _quick(0.01), _quick(0.01), GOOD])
    limit = ConcurrencyLimit(8)
    start = time.monotonic()
    hung = asyncio.create_task(call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit,
                                         hedge=hedge))  # fmt: skip
    await asyncio.sleep(0.01)
    assert hedge.delay() is None and hedge.hedged == 0
    await asyncio.gather(
        *(call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit, hedge=hedge) for _ in range(3))
    )
    known_at = time.monotonic()
    answer = await asyncio.wait_for(hung, 5)
    assert answer.facts[0].text == "Likes tea" and (hedge.hedged, hedge.hedge_wins) == (1, 1)
    # hedged the percentile after it became known, not at once (the rest of a first wave
    # is not all hedged together) and not after the timeout
    assert known_at + hedge.delay() - 0.005 <= time.monotonic() < start + 2
    assert limit.in_flight == 0


async def test_a_cancelled_call_leaves_no_request_and_no_slot_behind():
    hedge = _known_hedge(0.01)
    limit = ConcurrencyLimit(1, hedge_room=0)
    llm = ScriptedChatModel([_hung])
    call = asyncio.create_task(call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit,
                                         hedge=hedge))  # fmt: skip
    await asyncio.sleep(0.05)  # past the delay; no free slot for a copy
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.sleep(0)
    assert limit.in_flight == 0 and hedge.hedged == 0
    async with limit:  # the slot is free again
        pass


async def test_no_hedge_before_enough_latencies_or_without_a_free_slot():
    hedge = LatencyHedge(90, min_samples=3)
    assert hedge.delay() is None
    llm = ScriptedChatModel([GOOD] * 3)
    for _ in range(3):
        await call_json(llm, MSGS, schema=ExtractionAnswer, hedge=hedge)
    assert hedge.delay() is not None and hedge.hedged == 0

    async def slow(_messages, _json_mode):
        await asyncio.sleep(0.2)
        return GOOD

    limit = ConcurrencyLimit(1, hedge_room=0)  # the call holds the only slot: no room
    await call_json(ScriptedChatModel([slow]), MSGS, schema=ExtractionAnswer, limit=limit,
                    hedge=hedge)  # fmt: skip
    assert hedge.hedged == 0
    with pytest.raises(ValueError):
        LatencyHedge(100)


async def test_a_hung_call_is_hedged_even_when_every_slot_is_busy():
    # issue 13: 100 users on 64 slots keep every slot busy, and a hung request held its
    # slot for the whole client timeout because its copy found none free
    hedge = _known_hedge(0.01)
    limit = ConcurrencyLimit(2, hedge_room=1)
    busy = asyncio.Event()

    async def holder(_messages, _json_mode):
        await busy.wait()
        return GOOD

    llm = ScriptedChatModel([holder, _hung, _quick(0.01)])
    other = asyncio.create_task(call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit))
    await asyncio.sleep(0.01)  # other holds one slot (its request is the script's first)
    start = time.monotonic()
    hung = asyncio.create_task(call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit,
                                         hedge=hedge))  # fmt: skip
    answer = await asyncio.wait_for(hung, 5)
    assert answer.facts[0].text == "Likes tea" and (hedge.hedged, hedge.hedge_wins) == (1, 1)
    assert time.monotonic() - start < 1
    assert limit.peak == 3  # the two slots and the room's one
    busy.set()
    await other
    assert limit.in_flight == 0


async def test_the_hedge_room_is_bounded():
    limit = ConcurrencyLimit(1, hedge_room=1)
    async with limit:
        release = await limit.hedge_slot()
        assert release is not None and limit.in_flight == 2
        assert await limit.hedge_slot() is None  # room taken, no slot free
        release()
        assert limit.in_flight == 1
    release = await limit.hedge_slot()  # an ordinary slot is free again: that one is used
    assert release is not None and limit.in_flight == 1
    release()
    assert limit.in_flight == 0
    assert ConcurrencyLimit(64).hedge_room == 8 and ConcurrencyLimit(3).hedge_room == 1
    with pytest.raises(ConfigError):
        ConcurrencyLimit(4, hedge_room=-1)


def _failing(seconds, error):
    async def run(_messages, _json_mode):
        await asyncio.sleep(seconds)
        raise error

    return run


async def test_a_copy_that_fails_is_sent_again_while_the_hung_request_runs():
    # issue 13: a copy's 500 beside a hung request left the call waiting for the whole
    # client timeout; one such call set the end of a whole run (3.8 s against 1.6)
    hedge = _known_hedge(0.01)
    llm = ScriptedChatModel([_hung, _failing(0.01, LLMTransientError("500")), _quick(0.01)])
    limit = ConcurrencyLimit(4)
    start = time.monotonic()
    answer = await call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit, hedge=hedge,
                             base_wait_s=0.02)  # fmt: skip
    assert answer.facts[0].text == "Likes tea"
    assert time.monotonic() - start < 1
    assert (hedge.hedged, hedge.hedge_wins, len(llm.calls)) == (2, 1, 3)
    assert limit.in_flight == 0


async def test_a_failed_copy_waits_its_retry_after_and_copies_are_bounded():
    hedge = _known_hedge(0.01)

    async def hangs_then_fails(_messages, _json_mode):
        await asyncio.sleep(0.6)
        raise LLMTransientError("timeout")

    fails = [_failing(0.0, LLMTransientError("429", retry_after=0.1)) for _ in range(3)]
    llm = ScriptedChatModel([hangs_then_fails, *fails, GOOD])
    limit = ConcurrencyLimit(2)
    start = time.monotonic()
    answer = await call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit, hedge=hedge,
                             base_wait_s=0.001, max_retries=1)  # fmt: skip
    assert answer.facts[0].text == "Likes tea"
    # three copies, each after the previous one's Retry-After; then the first request's
    # own failure, and the caller's retry answers
    assert hedge.hedged == 3 and len(llm.calls) == 5
    assert 0.6 <= time.monotonic() - start < 2
    assert limit.in_flight == 0


async def test_a_copy_that_hangs_too_gets_a_copy_of_its_own():
    # both the request and its copy hung: the call used to wait for the client timeout
    hedge = _known_hedge(0.02)
    llm = ScriptedChatModel([_hung, _hung, _quick(0.01)])
    limit = ConcurrencyLimit(1, hedge_room=2)
    start = time.monotonic()
    answer = await call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit, hedge=hedge)
    assert answer.facts[0].text == "Likes tea"
    assert time.monotonic() - start < 1
    assert (hedge.hedged, hedge.hedge_wins, limit.peak) == (2, 1, 3)
    assert limit.in_flight == 0


async def test_a_hung_call_with_no_room_at_first_is_hedged_once_room_frees_up():
    # no room when the delay passed: the copy used to be given up for good, and the
    # call waited for the whole client timeout
    hedge = _known_hedge(0.02)
    limit = ConcurrencyLimit(2, hedge_room=0)
    llm = ScriptedChatModel([_quick(0.15), _hung, _quick(0.01)])
    start = time.monotonic()
    other = asyncio.create_task(call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit))
    await asyncio.sleep(0.01)  # other holds one slot
    hung = asyncio.create_task(call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit,
                                         hedge=hedge))  # fmt: skip
    answer = await asyncio.wait_for(hung, 5)
    assert answer.facts[0].text == "Likes tea" and (hedge.hedged, hedge.hedge_wins) == (1, 1)
    assert 0.15 <= time.monotonic() - start < 1  # after the other call freed its slot
    await other
    assert limit.in_flight == 0


async def test_a_call_cancelled_while_its_copies_run_leaves_nothing_behind():
    hedge = _known_hedge(0.01)
    limit = ConcurrencyLimit(1, hedge_room=2)
    llm = ScriptedChatModel([_hung, _hung, _hung])
    call = asyncio.create_task(call_json(llm, MSGS, schema=ExtractionAnswer, limit=limit,
                                         hedge=hedge))  # fmt: skip
    await asyncio.sleep(0.1)  # the request and two copies out (each past the delay)
    assert (hedge.hedged, limit.in_flight) == (2, 3)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.sleep(0)
    assert limit.in_flight == 0
    release = await limit.hedge_slot()  # the room is free again
    assert release is not None
    release()

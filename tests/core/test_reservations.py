"""Reserved id blocks (storage/_reservations.py): a batch of reserved ids journals nothing
of its own; blocks are finished once used up and settled, retired to repair on failure."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from agentmem_plugins import AsyncMemory
from agentmem_plugins.storage._reservations import IdReservations, memory_ids


def committed_block(res: IdReservations, wanted: int = 0) -> str:
    block = res.next_block(wanted)
    assert block is not None
    res.committed(block)
    return block.id


def test_ids_come_from_committed_blocks_only() -> None:
    res = IdReservations("s", block_size=4)
    pending = res.next_block()
    assert pending is not None and res.next_block() is None  # one block on its way at a time
    fresh = res.take(2)  # the block is not committed yet: random ids, not covered
    assert not res.covers(fresh) and len(set(fresh)) == 2
    res.committed(pending)
    ids = res.take(3)
    assert ids == pending.ids[:3] and res.covers(ids) and not res.covers([*ids, fresh[0]])


def test_a_block_finishes_when_used_up_and_settled() -> None:
    res = IdReservations("s", block_size=4)
    block = committed_block(res)
    first = res.take(3)
    assert res.settle(first, ok=True) == ([], {})  # one id left in the block
    last = res.take(2)  # the block's last id, then a random one
    assert res.covers(last[:1]) and not res.covers(last[1:])
    assert res.settle(last, ok=True) == ([block], {})
    assert res.held() == set()


def test_a_failed_batch_retires_its_block_to_repair_at_once() -> None:
    res = IdReservations("s", block_size=8)
    block = committed_block(res)
    ok_ids, bad_ids = res.take(2), res.take(2)
    res.settle(ok_ids, ok=True)
    finished, dirty = res.settle(bad_ids, ok=False)
    assert finished == [] and dirty == {block: ok_ids + bad_ids}
    assert not res.covers(res.take(1))  # the block's unused ids are never handed out


def test_forget_drops_unused_ids_and_an_uncommitted_block() -> None:
    res = IdReservations("s", block_size=4)
    block = committed_block(res)
    used = res.take(1)
    res.next_block(wanted=4)  # pending, never committed
    assert res.forget() == ([], {})  # the used id's batch is still in flight
    assert res.settle(used, ok=True) == ([block], {})
    assert res.held() == set() and not res.covers(res.take(1))


async def test_fast_mode_batches_journal_no_intent_of_their_own(tmp_path: Path) -> None:
    """After the first batch, single adds use reserved ids: the only open intents are the
    session's blocks, and a clean close leaves none."""
    async with AsyncMemory(path=tmp_path, embedder="hash") as memory:
        for i in range(30):
            await memory.add(f"fact {i}", user_id="u")
        stores = memory._stores
        open_intents = {i.id for i in stores.journal.intents()}
        assert open_intents and open_intents <= stores.reservations.held()
        assert (await memory.check()).ok
    async with AsyncMemory(path=tmp_path, embedder="hash") as memory:
        assert memory._stores.journal.intents() == []
        assert len(await memory.get_all(user_id="u")) == 30


def test_memory_ids_are_uuid7_and_ordered_by_time() -> None:
    """Ids that start with the time keep a batch's rows together in SQL's primary-key
    index (random ids dirtied a page per row); 74 random bits keep them unguessable."""
    first = memory_ids(50)
    time.sleep(0.003)
    later = memory_ids(50)
    for memory_id in first + later:
        parsed = uuid.UUID(hex=memory_id)
        assert (len(memory_id), parsed.version, parsed.variant) == (32, 7, uuid.RFC_4122)
        assert memory_id == memory_id.lower()
    assert max(first) < min(later)
    assert len(set(memory_ids(20_000))) == 20_000
    assert abs(int(first[0][:12], 16) - time.time() * 1000) < 60_000  # milliseconds

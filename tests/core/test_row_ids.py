"""Index searches read row addresses from LanceDB and map them to ids in memory
(``storage._row_ids``): the map learns new fragments, survives compaction, and is dropped
when the table is made again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from agentmem_plugins import AsyncMemory, _upkeep_schedule
from agentmem_plugins.storage import _row_ids
from agentmem_plugins.storage._row_ids import RowIds, plausible


def _scan_of(rows: dict[int, str]):
    """A scan over ``{address: id}``, as ``VectorIndex._scan_row_ids`` answers it."""
    calls: list[int | None] = []

    def scan(first: int | None) -> pa.Table:
        calls.append(first)
        kept = sorted(a for a in rows if first is None or a >= first)
        return pa.table({"id": [rows[a] for a in kept], "_rowid": pa.array(kept, type=pa.uint64())})

    return scan, calls


def _until(condition: Callable[[], object]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the map's thread never got there"
        time.sleep(0.005)


def test_the_map_learns_new_fragments_and_rereads_all_for_an_address_it_should_know() -> None:
    rows = {(3 << 32) + 0: "a", (3 << 32) + 2: "b", (5 << 32) + 1: "c"}
    scan, calls = _scan_of(rows)
    row_ids = RowIds(scan, lambda: len(rows))
    try:
        row_ids.refresh_soon()
        _until(lambda: row_ids.ready)
        assert calls == [None]  # the first scan reads everything
        assert row_ids.lookup(np.array([(5 << 32) + 1, 3 << 32], dtype=np.uint64)) == ["c", "a"]
        # a fragment newer than the map: a miss, then only fragments from 6 on are read
        rows[(7 << 32) + 4] = "d"
        assert row_ids.lookup(np.array([(7 << 32) + 4], dtype=np.uint64)) is None
        _until(lambda: 7 in row_ids._fragments)
        assert calls[1] == 6 << 32
        assert row_ids.lookup(np.array([(7 << 32) + 4, (3 << 32) + 2], dtype=np.uint64)) == [
            "d",
            "b",
        ]
        # an unknown offset in a known fragment cannot happen while the table lives: the
        # map reads the whole table again
        rows[(3 << 32) + 9] = "e"
        assert row_ids.lookup(np.array([(3 << 32) + 9], dtype=np.uint64)) is None
        _until(lambda: len(row_ids._fragments[3][0]) == 3)
        assert calls[2] is None
        assert row_ids.lookup(np.array([(3 << 32) + 9], dtype=np.uint64)) == ["e"]
        row_ids.clear()
        assert not row_ids.ready
    finally:
        row_ids.close()


def test_rows_moved_by_compaction_are_dropped_by_a_full_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_row_ids, "STALE_SLACK", 0)
    rows = {(1 << 32) + n: f"id{n}" for n in range(4)}
    scan, calls = _scan_of(rows)
    row_ids = RowIds(scan, lambda: len(rows))
    try:
        row_ids.refresh_soon()
        _until(lambda: row_ids.ready)
        # compaction: the same rows in fragment 2, fragment 1 gone
        moved = {(2 << 32) + n: f"id{n}" for n in range(4)}
        rows.clear()
        rows.update(moved)
        assert row_ids.lookup(np.array([(2 << 32) + 3], dtype=np.uint64)) is None
        _until(lambda: set(row_ids._fragments) == {2})  # the new fragment, then all again
        assert calls == [None, 2 << 32, None]
        assert row_ids.lookup(np.array([(2 << 32) + 3], dtype=np.uint64)) == ["id3"]
    finally:
        row_ids.close()


def test_ids_that_do_not_fit_the_records_are_implausible() -> None:
    unit = np.ones(4, dtype=np.float32) / 2
    vectors = {"a": unit, "b": unit, "c": None}
    # IVF_SQ reports 2 - 2 cos, a flat search 1 - cos: both fit an exact score of 0.9
    assert plausible(["a", "b", "c"], np.array([0.2, 0.1, 0.5]), vectors, {"a": 0.9, "b": 0.9})
    assert not plausible(["a", "b"], np.array([0.2, 0.9]), vectors, {"a": 0.9, "b": 0.9})
    # most ids without a record: not a delete in flight but another table's ids
    assert not plausible(["a", "x", "y"], np.array([0.2, 0.2, 0.2]), vectors, {"a": 0.9})


async def _map_ready(memory: AsyncMemory) -> None:
    row_ids = memory._stores.vectors._row_ids
    for _ in range(400):
        if row_ids.settled:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the address map was never filled")


def _texts(n: int, tag: str) -> list[dict[str, str]]:
    return [
        {"text": f"note {i} {tag} on subject {i % 50} and item{i}", "user_id": "docs"}
        for i in range(n)
    ]


async def _with_ids_from_lancedb(memory: AsyncMemory, query: str) -> list[tuple[str, float]]:
    """The same search with the ids read by LanceDB, as without the map."""
    vectors = memory._stores.vectors
    real = vectors._candidates

    def direct(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **{**kwargs, "by_address": False})

    vectors._candidates = direct  # type: ignore[method-assign]
    try:
        hits = await memory.search(query, user_id="docs", limit=10)
    finally:
        del vectors._candidates
    return [(h.id, h.score) for h in hits]


def _count_lookups(row_ids: RowIds) -> list[bool]:
    """From now on, whether each lookup of ``row_ids`` found every address (a hit)."""
    calls: list[bool] = []
    lookup = row_ids.lookup

    def counted(addresses: np.ndarray) -> list[str] | None:
        found = lookup(addresses)
        calls.append(found is not None)
        return found

    row_ids.lookup = counted  # type: ignore[method-assign]
    return calls


@pytest.fixture
async def indexed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsyncMemory]:
    """1,200 rows under an ANN index, searched once, the address map filled; upkeep runs
    only when a test asks (a compaction between a settled map and the next search would
    make that search miss, which is right too but not what these tests look at)."""
    monkeypatch.setattr(_upkeep_schedule, "IDLE_UPKEEP_S", 3600.0)
    async with AsyncMemory(
        path=tmp_path / "store",
        embedder="hash",
        ann_min_rows=256,
        exact_search_max_rows=0,
        compact_every_writes=10_000,
    ) as memory:
        await memory.add_many(_texts(1200, "first"))
        await memory._io(memory._stores.maintain)
        assert memory._stores.vectors._has_ann
        await memory.search("subject 7 item7", user_id="docs", limit=10)
        await _map_ready(memory)
        yield memory


async def test_searches_through_the_address_map(indexed: AsyncMemory) -> None:
    memory = indexed
    vectors = memory._stores.vectors
    before = await _with_ids_from_lancedb(memory, "subject 7 item7")
    calls = _count_lookups(vectors._row_ids)
    after = await memory.search("subject 7 item7", user_id="docs", limit=10)
    assert calls and all(calls)  # answered through the map
    assert [(h.id, h.score) for h in after] == before

    # new rows: a new fragment, found at once (a miss reads their ids by address)
    new = await memory.add_many([{"text": "zebra quartz unique words", "user_id": "docs"}])
    hits = await memory.search("zebra quartz unique words", user_id="docs", limit=3)
    assert hits[0].id == new[0]
    await _map_ready(memory)
    calls.clear()
    hits = await memory.search("zebra quartz unique words", user_id="docs", limit=3)
    assert hits[0].id == new[0] and all(calls)

    # compaction moves every row to new fragments; searches stay right
    await memory.add_many(_texts(300, "second"))
    await memory._io(memory._stores.maintain)
    hits = await memory.search("zebra quartz unique words", user_id="docs", limit=3)
    assert hits[0].id == new[0]
    await _map_ready(memory)
    calls.clear()
    hits = await memory.search("subject 7 item7", user_id="docs", limit=10)
    assert calls and all(calls)
    expected = await _with_ids_from_lancedb(memory, "subject 7 item7")
    assert [(h.id, h.score) for h in hits] == expected


async def test_a_miss_reads_the_new_rows_ids_by_address_without_asking_the_index_again(
    indexed: AsyncMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = indexed
    vectors = memory._stores.vectors
    monkeypatch.setattr(vectors._row_ids, "refresh_soon", lambda **_: None)  # stays behind
    new = await memory.add_many([{"text": "zebra quartz unique words", "user_id": "docs"}])
    queries: list[list[str]] = []
    query = vectors._query

    def counted(*args: Any) -> Any:
        queries.append(args[-1])
        return query(*args)

    monkeypatch.setattr(vectors, "_query", counted)
    hits = await memory.search("zebra quartz unique words", user_id="docs", limit=3)
    assert hits[0].id == new[0]
    assert queries == [["_distance"]]  # one index query; the ids came by address


async def test_rows_another_opener_writes_and_compacts_are_found(tmp_path: Path) -> None:
    """Another opener (as another process would) appends rows and compacts the table:
    this opener's map misses their addresses, reads their ids by address meanwhile, and
    learns them."""
    path = tmp_path / "store"
    options: dict[str, Any] = {"embedder": "hash", "ann_min_rows": 256, "exact_search_max_rows": 0}
    async with AsyncMemory(path=path, **options) as memory:
        await memory.add_many(_texts(1200, "first"))
        await memory._io(memory._stores.maintain)
        await memory.search("subject 7 item7", user_id="docs", limit=10)
        await _map_ready(memory)
        async with AsyncMemory(path=path, **options) as other:
            new = await other.add_many(
                [{"text": f"walrus umbrella signal {i}", "user_id": "docs"} for i in range(40)]
            )
            await other._io(other._stores.maintain)  # compaction: rows move
        hits = await memory.search("walrus umbrella signal 7", user_id="docs", limit=5)
        assert hits[0].id == new[7]
        await _map_ready(memory)
        hits = await memory.search("walrus umbrella signal 9", user_id="docs", limit=5)
        assert hits[0].id == new[9]
        assert await _with_ids_from_lancedb(memory, "subject 7 item7") == [
            (h.id, h.score)
            for h in await memory.search("subject 7 item7", user_id="docs", limit=10)
        ]


async def test_a_table_made_again_elsewhere_clears_the_map(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another opener resets the store and writes new rows: their addresses are the old
    rows' addresses. The map's ids then miss the records, and the search is answered
    from LanceDB's ids instead, with the map cleared."""
    path = tmp_path / "store"
    options = {"embedder": "hash", "ann_min_rows": 256, "exact_search_max_rows": 0}
    async with AsyncMemory(path=path, **options) as memory:  # type: ignore[arg-type]
        await memory.add_many(_texts(1200, "old"))
        await memory._io(memory._stores.maintain)
        await memory.search("subject 7 item7", user_id="docs", limit=10)
        await _map_ready(memory)
        async with AsyncMemory(path=path, **options) as other:  # type: ignore[arg-type]
            await other.reset()
            await other.add_many(_texts(1200, "new"))
            await other._io(other._stores.maintain)
        hits = await memory.search("note 7 new on subject 7 and item7", user_id="docs", limit=5)
        assert hits and hits[0].text == "note 7 new on subject 7 and item7"
        assert all(" new " in h.text for h in hits)
        assert "row addresses did not match the records" in caplog.text


def test_an_empty_scan_leaves_an_empty_ready_map() -> None:
    scan, calls = _scan_of({})
    row_ids = RowIds(scan, lambda: 0)
    try:
        row_ids.refresh_soon()
        _until(lambda: row_ids.ready)
        assert calls == [None]
        assert row_ids.lookup(np.array([1 << 32], dtype=np.uint64)) is None
    finally:
        row_ids.close()


def test_writes_refresh_the_map_only_while_searches_use_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bulk load that nobody searches meanwhile pays no scans: ``active`` (what the
    vector index's writes check) is true only after a recent lookup."""
    monkeypatch.setattr(_row_ids, "ACTIVE_S", 1.0)
    scan, calls = _scan_of({(1 << 32) + 0: "a"})
    row_ids = RowIds(scan, lambda: 1)
    try:
        row_ids.refresh_soon()
        _until(lambda: row_ids.ready)
        assert not row_ids.active  # filled, but no search has used it
        assert row_ids.lookup(np.array([1 << 32], dtype=np.uint64)) == ["a"]
        assert row_ids.active
        _until(lambda: not row_ids.active)
    finally:
        row_ids.close()


def _prewarms(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the indexes LanceDB is asked to load into its cache, from now on."""
    from lancedb.table import AsyncTable

    warmed: list[str] = []

    async def prewarm(self: Any, name: str) -> None:
        warmed.append(name)

    monkeypatch.setattr(AsyncTable, "prewarm_index", prewarm)
    return warmed


async def _eventually(check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_a_process_asks_for_the_index_once_at_its_first_index_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options: dict[str, Any] = {"embedder": "hash", "ann_min_rows": 256, "exact_search_max_rows": 0}
    async with AsyncMemory(path=tmp_path / "store", **options) as memory:
        await memory.add_many(_texts(600, "first"))
        await memory._io(memory._stores.maintain)
    warmed = _prewarms(monkeypatch)
    async with AsyncMemory(path=tmp_path / "store", **options) as memory:  # another process
        assert warmed == []  # opening loads nothing
        for _ in range(3):
            await memory.search("subject 7 item7", user_id="docs", limit=10)
        await _eventually(lambda: bool(warmed))
        assert warmed == ["vector_ann_600"]


async def test_upkeep_readies_a_searching_process_for_its_next_search(
    indexed: AsyncMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load nobody searched meanwhile: the upkeep after it loads the new ANN index
    into LanceDB's cache and brings the address map up to date, so the next search
    neither loads partitions nor misses the map."""
    memory = indexed
    vectors = memory._stores.vectors
    vectors._row_ids._used = -_row_ids.ACTIVE_S  # no search lately: writes do not refresh it
    warmed = _prewarms(monkeypatch)
    new = await memory.add_many(_texts(1300, "second"))  # over twice the trained rows
    await memory._io(memory._stores.maintain)
    assert vectors._ann_trained == 2500
    await _eventually(lambda: bool(warmed))
    assert warmed == ["vector_ann_2500"]
    await _map_ready(memory)
    calls = _count_lookups(vectors._row_ids)
    hits = await memory.search("note 5 second on subject 5 and item5", user_id="docs", limit=3)
    assert hits[0].id == new[5] and calls and all(calls)  # no miss: the map knew the load


async def test_a_process_that_never_searched_by_index_loads_no_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warmed = _prewarms(monkeypatch)
    async with AsyncMemory(
        path=tmp_path / "store", embedder="hash", ann_min_rows=256, exact_search_max_rows=0
    ) as memory:
        await memory.add_many(_texts(600, "first"))
        await memory._io(memory._stores.maintain)
        assert memory._stores.vectors._has_ann and warmed == []
        assert not memory._stores.vectors._row_ids.ready

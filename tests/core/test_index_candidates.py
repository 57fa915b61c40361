"""The LanceDB index returns its candidates' ids alone; their vectors and scope come from
the records (``RecordStore.candidate_vectors``), on SQLite and on PostgreSQL records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest

from agentmem_plugins import AsyncMemory
from agentmem_plugins.storage._record_columns import M

from ..conftest import NEEDS_PG, postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=NEEDS_PG)])
def records(request) -> Iterator[dict[str, Any]]:
    """Records in SQLite or in PostgreSQL; vectors in LanceDB either way."""
    if request.param == "sqlite":
        yield {}
        return
    with postgres_schema() as url:
        yield {"sql_url": url}


@pytest.fixture
async def memory(tmp_path, records) -> AsyncIterator[AsyncMemory]:
    # exact_search_max_rows=0: every search goes through the LanceDB index
    m = AsyncMemory(path=tmp_path / "store", embedder="hash", exact_search_max_rows=0, **records)
    yield m
    await m.close()


async def test_candidate_vectors_come_from_the_records_with_their_scope(memory) -> None:
    ids = await memory.add_many(
        [{"text": "alpha note", "user_id": "u"}, {"text": "beta note", "user_id": "v"}]
    )
    stored = await memory.get_vectors(ids)
    found = memory._stores.records.candidate_vectors([*ids, "no-such-id"], {"user_id": "u"})
    assert set(found) == set(ids)  # an id without a record is left out
    assert found[ids[1]] is None  # outside the scope
    assert np.array_equal(found[ids[0]], stored[ids[0]])
    whole = memory._stores.records.candidate_vectors(ids, {})
    assert all(whole[i] is not None for i in ids)


async def test_index_scores_are_exact_cosines_of_the_stored_vectors(memory) -> None:
    await memory.add_many([{"text": f"note {i} about topic {i % 7}", "user_id": "u"}
                           for i in range(40)])
    query = await memory._runner.query("note about topic 3")
    hits = await memory.search(vector=query.tolist(), user_id="u", limit=5)
    vectors = await memory.get_vectors([h.id for h in hits])
    unit = query / np.linalg.norm(query)
    for hit in hits:
        v = vectors[hit.id]
        assert hit.score == pytest.approx(float(v @ unit / np.linalg.norm(v)), abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_a_search_still_fills_its_limit_while_records_are_deleted_in_flight(
    memory,
) -> None:
    """A delete removes the records first, then the index rows. A search in between
    gets index candidates without records: they must still count as candidates, so the
    search widens its fetch instead of returning fewer hits than the scope holds."""
    ids = await memory.add_many(
        [{"text": f"shared words {i}", "user_id": "u"} for i in range(30)]
        + [{"text": f"other topic {i}", "user_id": "u"} for i in range(10)]
    )
    gone = ids[:30]
    with memory._stores.records._write.begin() as conn:  # the records' half of a delete
        conn.execute(M.delete().where(M.c.id.in_(gone)))
    # the index still holds the rows the records lost
    assert memory._stores.vectors.count() == 40
    hits = await memory.search("shared words", user_id="u", limit=10)
    assert len(hits) == 10
    assert not {h.id for h in hits} & set(gone)


async def _two_scopes_one_invalidated(memory) -> list[str]:
    ids = await memory.add_many(
        [
            {"text": "alpha note", "user_id": "u", "metadata": {"n": 1}},
            {"text": "beta note", "user_id": "v"},
            {"text": "gamma note", "user_id": "u"},
        ]
    )
    with memory._stores.records._write.begin() as conn:  # as a newer fact would
        conn.execute(
            M.update().where(M.c.id == ids[2]).values(invalid_at=datetime(2024, 1, 1))
        )
    return ids


async def test_the_candidates_memories_come_in_the_same_read(memory) -> None:
    records = memory._stores.records
    ids = await _two_scopes_one_invalidated(memory)
    rows: dict[str, Any] = {}
    found = records.candidate_vectors([*ids, "no-such-id"], {"user_id": "u"}, rows)
    assert set(found) == set(ids) and found[ids[1]] is None
    # the scope's memories, invalidated too, exactly as the records' own fetch reads them
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    items = {i: records.item(values, now) for i, values in rows.items()}
    assert items == records.fetch(ids, scope={"user_id": "u"}, include_invalidated=True)
    assert set(items) == {ids[0], ids[2]} and items[ids[0]].metadata == {"n": 1}


async def test_an_index_search_reads_the_records_once_per_round(memory, monkeypatch) -> None:
    ids = await _two_scopes_one_invalidated(memory)
    records = memory._stores.records
    fetched: list[list[str]] = []
    fetch = records.fetch

    def counted(wanted: Any, **kw: Any) -> Any:
        fetched.append(list(wanted))
        return fetch(wanted, **kw)

    monkeypatch.setattr(records, "fetch", counted)
    hits = await memory.search("note", user_id="u", limit=5)
    assert [h.id for h in hits] == [ids[0]] and fetched == []  # read with the vectors
    assert hits[0].score is not None and hits[0].metadata == {"n": 1}
    every = await memory.search("note", user_id="u", limit=5, include_invalidated=True)
    assert {h.id for h in every} == {ids[0], ids[2]} and fetched == []
    # a metadata filter is checked by the records' fetch, in SQL
    assert [h.id for h in await memory.search("note", user_id="u", filters={"n": 1})] == [ids[0]]
    assert fetched

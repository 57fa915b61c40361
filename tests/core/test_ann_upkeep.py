"""ANN index upkeep (issue 14, round 4): LanceDB's ``optimize()`` leaves an IVF index with
far fewer, larger partitions than it was trained with; upkeep notices (from a query plan),
retrains it once the table is quiet, and does not run ``optimize()`` when there is nothing
to fold or compact (which would collapse a fresh index again)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from agentmem_plugins.embeddings import HashEmbedder
from agentmem_plugins.storage import _upkeep
from agentmem_plugins.storage._upkeep import ann_partitions, index_partitions, upkeep

_WORDS = [
    "river",
    "mountain",
    "lamp",
    "engine",
    "garden",
    "letter",
    "market",
    "winter",
    "signal",
    "harbor",
]


def _rows(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(_WORDS, 6)) + f" {seed}-{i}" for i in range(n)]
    vectors = HashEmbedder().embed_documents(texts).astype(np.float32)
    flat = pa.array(vectors.reshape(-1))
    return pa.table(
        {
            "id": [f"{seed}-{i}" for i in range(n)],
            "text": texts,
            "user_id": ["u"] * n,
            "agent_id": ["a"] * n,
            "run_id": ["r"] * n,
            "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
        }
    )


def _run(table: Any) -> dict[str, Any]:
    return upkeep(table, ann_min_rows=4000, cleanup_older_than=timedelta(seconds=30))


def test_a_collapsed_index_is_retrained_when_quiet_and_a_fresh_one_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lancedb

    table = lancedb.connect(tmp_path).create_table("memories", _rows(8000, 1))
    first = _run(table)
    assert first["built"]["reason"] == "growth"
    assert index_partitions(table) == ann_partitions(8000) == 5

    # nothing to fold or compact: optimize() is skipped, the index keeps its partitions
    again = _run(table)
    assert again["built"] is None
    assert index_partitions(table) == 5
    assert again["again_s"] is None  # nothing left for later

    # a few new rows: optimize() folds them in and the index collapses (LanceDB joins
    # partitions); the table is quiet, so upkeep retrains it at once
    monkeypatch.setattr(_upkeep, "REBUILD_COOLDOWN", 0.0)
    table.add(_rows(50, 2))
    report = _run(table)
    assert report["partitions_found"] < _upkeep.COLLAPSED_SHARE * 5  # what LanceDB did
    assert report["built"]["reason"] == "worn"
    assert index_partitions(table) == ann_partitions(8050)
    hits = table.search(_rows(1, 2).column("vector")[0].values.to_numpy()).limit(1).to_arrow()
    assert hits.num_rows == 1

    # right after such a rebuild, the next collapse waits for the cooldown
    monkeypatch.setitem(_upkeep._next_rebuild, report["table"], time.monotonic() + 3600)
    table.add(_rows(50, 3))
    later = _run(table)
    assert later["built"] is None
    assert later["partitions_found"] < _upkeep.COLLAPSED_SHARE * 5
    assert 3000 < later["again_s"] <= 3600  # look again when the cooldown is over

    # a bulk load (the table grew since the last upkeep): no rebuild while it grows; once
    # quiet, the index missing over 5% of the rows it was trained on is rebuilt at once
    table.add(_rows(500, 4))
    growing = _run(table)
    assert growing["built"] is None
    assert growing["again_s"] == _upkeep.QUIET_RECHECK_S  # the writer comes back then
    assert _run(table)["built"]["reason"] == "worn"
    assert index_partitions(table) == ann_partitions(8600)

    # a table grown by a quarter past the rows its index was trained on: worn too, as
    # the index's partitions are sized for fewer rows (not yet the doubling rule)
    table.add(_rows(2200, 5))
    assert _run(table)["built"] is None  # growing
    stale = _run(table)
    assert stale["built"]["reason"] == "worn"
    assert stale["built"]["rows"] == 10800 < _upkeep.RETRAIN_GROWTH * 8600


async def test_index_search_in_a_small_scope_of_a_large_table(tmp_path: Path) -> None:
    """The index search first looks at the nearest rows of the whole table and keeps those
    in scope; a scope that holds few of them is searched again with a prefilter, and gets
    its full ``limit`` of hits, all its own."""
    from agentmem_plugins import AsyncMemory

    async with AsyncMemory(
        path=tmp_path, embedder="hash", ann_min_rows=256, exact_search_max_rows=0
    ) as memory:
        await memory.add_many(
            {"text": f"note {i} on subject {i % 50} and item{i}", "user_id": "big"}
            for i in range(1140)
        )
        await memory.add_many(
            {"text": f"note {i} on subject {i % 50} and item{i}", "user_id": "small"}
            for i in range(60)
        )
        await memory._io(memory._stores.maintain)
        vectors = memory._stores.vectors
        assert vectors._has_ann
        for user, limit in (("big", 10), ("small", 10), ("small", 60), ("big", 100)):
            hits = await memory.search("subject 7 item7", user_id=user, limit=limit)
            assert len(hits) == limit and all(h.user_id == user for h in hits)
        assert "user_id = 'small'" in vectors._needs_prefilter
        assert "user_id = 'big'" not in vectors._needs_prefilter
        hits = await memory.search("subject 7 item7", user_id="small", limit=1)
        assert hits[0].text == "note 7 on subject 7 and item7"

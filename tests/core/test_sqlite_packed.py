"""SQLite reads packed into one row, and multi-row inserts: the same rows as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from agentmem_plugins import AsyncMemory
from agentmem_plugins.storage._sqlite_packed import packed_rows


def test_packed_rows_keep_every_value_and_the_row_order(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute('CREATE TABLE t (id TEXT, "metadata" TEXT, note TEXT, vector BLOB)')
    vectors = [
        np.zeros(8, dtype=np.float32),  # every byte zero
        np.array([1, 0, -1, 0.5, 0, 0, 2, 0], dtype=np.float32),  # 1.0 is 00 00 80 3f
        np.arange(8, dtype=np.float32),
    ]
    rows = [
        ("b", '{"k": [1, 2]}', None, vectors[0].tobytes()),
        ("a", None, "quote \" and \\ and 'é' and \x00", vectors[1].tobytes()),
        ("c", "{}", "", vectors[2].tobytes()),
    ]
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    select = "SELECT id, metadata, note, vector FROM t WHERE id IN (?, ?, ?) ORDER BY id"

    found, data = packed_rows(conn, select, ("a", "b", "c"), ["id", "metadata", "note"], "vector")

    expected = sorted(rows)
    assert found == [list(r[:3]) for r in expected]
    assert data == b"".join(r[3] for r in expected)
    assert packed_rows(conn, "SELECT id FROM t WHERE id = ?", ("zzz",), ["id"], "id") == ([], b"")
    assert packed_rows(conn, "SELECT id FROM t WHERE id = ?", ("a",), ["id"]) == ([["a"]], b"")


@pytest.mark.skipif(not hasattr(sqlite3.Connection, "setlimit"), reason="Python >= 3.11")
def test_a_result_too_large_to_pack_is_read_row_by_row(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (id TEXT, vector BLOB)")
    rows = [(f"id{i}", np.full(64, i, dtype=np.float32).tobytes()) for i in range(20)]
    conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    select = "SELECT vector, id FROM t ORDER BY id"
    packed = packed_rows(conn, select, (), ["id"], "vector")
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 4096)  # 20 rows of 256 bytes do not fit

    assert packed_rows(conn, select, (), ["id"], "vector") == packed
    assert packed[0] == [[r[0]] for r in sorted(rows)]


async def test_store_reads_and_writes_through_packed_rows(tmp_path: Path) -> None:
    """Batches of sizes that split into several multi-row inserts (300 = 256 + 32 + 8 +
    4), vectors full of zero bytes, and every read that packs its rows: the scope's
    vectors (exact search), intelligent mode's neighbour read, a fetch, the candidates'
    vectors and the revision check."""
    rng = np.random.default_rng(0)
    dim = 16
    vectors = rng.integers(-1, 2, size=(300, dim)).astype(np.float32)  # 0.0, 1.0, -1.0
    vectors[:, 0] = 1.0  # none all zero
    items = [
        {"text": f"note {i} é", "user_id": "u", "metadata": {"n": i}, "vector": vectors[i]}
        for i in range(300)
    ]
    async with AsyncMemory(path=tmp_path, embedder="none", exact_search_max_rows=10_000) as mem:
        ids = await mem.add_many(items)
        (one,) = await mem.add_many([{"text": "one", "user_id": "v", "vector": vectors[7]}])
        records = mem._stores.records

        found, matrix, _ = records.vectors({"user_id": "u"}, None)
        assert sorted(found) == sorted(ids)
        assert matrix is not None
        by_id = dict(zip(found, matrix, strict=True))
        assert all((by_id[i] == vectors[n]).all() for n, i in enumerate(ids))

        live, live_matrix = records.live_vectors({"user_id": "u"}, None, 1_000)
        assert live == found and live_matrix is not None and (live_matrix == matrix).all()

        fetched = records.fetch([ids[5], ids[299], one, "missing"])
        assert set(fetched) == {ids[5], ids[299], one}
        assert fetched[ids[299]].text == "note 299 é"
        assert fetched[ids[299]].metadata == {"n": 299}

        candidates = records.candidate_vectors([ids[3], one, "missing"], {"user_id": "u"})
        assert set(candidates) == {ids[3], one} and candidates[one] is None
        assert (candidates[ids[3]] == vectors[3]).all()

        revisions = records.revisions_of([ids[0], one, "missing"])
        assert set(revisions) == {ids[0], one}

        hits = await mem.search(vector=vectors[42], user_id="u", limit=3)
        assert ids[42] in {h.id for h in hits if h.score > 0.999}  # exact, from the scope
        assert await mem.count(user_id="u") == 300
        assert len(await mem.history(ids[0])) == 1

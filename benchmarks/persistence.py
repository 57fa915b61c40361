"""Workload 5 - persistence floor: what raw SQLite + raw LanceDB can do, vs our store.

Same input for all three (10,000 memories: text, user id, JSON metadata, a 384-d float32
vector = a 1.5 KB blob), measured in the same process, alternating, fresh files per rep:

* SQL floor: stdlib ``sqlite3``, WAL + ``synchronous=NORMAL`` (the core's settings), the
  core's tables and indexes (memories + history, same columns), ``executemany`` of 1,000
  rows per transaction into both tables. Per-row conversions any store must do (json of
  the metadata, vector bytes, uuid ids, timestamps) are inside the timing.
* Lance floor: one 10,000-row ``table.add`` of a pyarrow table with the core's schema
  (id, text, scope columns, rev, fixed-size vector) into an existing empty table;
  building the arrow table from the Python lists is inside the timing.
* Floor = the time to get both written. Measured three ways in the same rep: SQL alone,
  Lance alone, and both at once in two threads (as the core does). The floor is the
  faster of "serial" (SQL + Lance) and "parallel" (the measured two-thread time): the
  strictest honest bound, whichever way this machine runs them faster.
* Ours: ``AsyncMemory(embedder="none").add_many(items)`` with the precomputed vectors
  given as lists of floats (the declared ``MemoryInput.vector`` type), so no embedding
  cost: validation, batching, history, both stores. Also measured with numpy vectors
  (diagnostic).

Target: our throughput >= 0.6 x the floor's.

    python -m benchmarks.persistence [--quick] [--n 10000] [--reps 5]
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ._common import Result, Timer, base_parser, finish, log, temp_store_dir
from ._texts import metadata_for, sentences, users

WORKLOAD = "5. Persistence floor (precomputed vectors, embedder='none')"
DIM = 384
TXN_ROWS = 1_000

MEMORIES_DDL = """
CREATE TABLE memories (
    id VARCHAR(512) NOT NULL PRIMARY KEY, text TEXT NOT NULL, user_id VARCHAR(512),
    agent_id VARCHAR(512), run_id VARCHAR(512), metadata JSON, vector BLOB NOT NULL,
    rev VARCHAR(32) NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
    observed_at DATETIME, invalid_at DATETIME, invalid_reason TEXT)"""
HISTORY_DDL = """
CREATE TABLE history (
    id VARCHAR(64) NOT NULL PRIMARY KEY, memory_id VARCHAR(512) NOT NULL,
    event VARCHAR(16) NOT NULL, old_text TEXT, new_text TEXT, actor VARCHAR(512),
    role VARCHAR(64), reason TEXT, created_at DATETIME NOT NULL)"""
INDEXES = [
    "CREATE INDEX ix_memories_scope ON memories (user_id, agent_id, run_id, created_at)",
    "CREATE INDEX ix_memories_agent ON memories (agent_id, created_at)",
    "CREATE INDEX ix_memories_run ON memories (run_id, created_at)",
    "CREATE INDEX ix_history_memory ON history (memory_id, created_at)",
]


def make_data(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    uids = users(100)
    return {
        "texts": sentences(n, seed=seed),
        "users": [uids[i % 100] for i in range(n)],
        "metadata": [metadata_for(i) for i in range(n)],
        "vectors": vectors,
    }


# --- the floor ------------------------------------------------------------------------

def sqlite_setup(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path / "floor.db", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(MEMORIES_DDL)
    conn.execute(HISTORY_DDL)
    for ddl in INDEXES:
        conn.execute(ddl)
    return conn


def sqlite_write(conn: sqlite3.Connection, data: dict[str, Any]) -> None:
    n = len(data["texts"])
    texts, uids, metas, vecs = data["texts"], data["users"], data["metadata"], data["vectors"]
    for lo in range(0, n, TXN_ROWS):
        hi = min(n, lo + TXN_ROWS)
        now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
        rev = uuid.uuid4().hex[:16]
        ids = [uuid.uuid4().hex for _ in range(lo, hi)]
        rows = [
            (ids[i - lo], texts[i], uids[i], None, None, json.dumps(metas[i]),
             vecs[i].tobytes(), rev, now, now, None, None, None)
            for i in range(lo, hi)
        ]
        hist = [
            (uuid.uuid4().hex, ids[i - lo], "ADD", None, texts[i], None, None, None, now)
            for i in range(lo, hi)
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO memories VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany("INSERT INTO history VALUES (?,?,?,?,?,?,?,?,?)", hist)
        conn.execute("COMMIT")


def lance_setup(path: Path) -> Any:
    import lancedb
    import pyarrow as pa

    schema = pa.schema([
        pa.field("id", pa.string(), nullable=False), pa.field("text", pa.string()),
        pa.field("user_id", pa.string()), pa.field("agent_id", pa.string()),
        pa.field("run_id", pa.string()), pa.field("rev", pa.string()),
        pa.field("vector", pa.list_(pa.float32(), DIM)),
    ])
    return lancedb.connect(str(path / "floor-lance")).create_table("memories", schema=schema)


def lance_write(table: Any, data: dict[str, Any]) -> None:
    import pyarrow as pa

    n = len(data["texts"])
    flat = pa.array(np.ascontiguousarray(data["vectors"], dtype=np.float32).reshape(-1))
    table.add(pa.table({
        "id": [uuid.uuid4().hex for _ in range(n)], "text": data["texts"],
        "user_id": data["users"], "agent_id": [None] * n, "run_id": [None] * n,
        "rev": [uuid.uuid4().hex[:16]] * n,
        "vector": pa.FixedSizeListArray.from_arrays(flat, DIM),
    }))


def floor_rep(workdir: str | None, data: dict[str, Any]) -> dict[str, float]:
    out = {}
    with temp_store_dir(workdir, "floor-sql") as p:
        conn = sqlite_setup(p)
        with Timer() as t:
            sqlite_write(conn, data)
        conn.close()
        out["sql_s"] = t.wall
    with temp_store_dir(workdir, "floor-lance") as p:
        table = lance_setup(p)
        with Timer() as t:
            lance_write(table, data)
        out["lance_s"] = t.wall
    with temp_store_dir(workdir, "floor-both") as p:
        conn, table = sqlite_setup(p), lance_setup(p)
        errors: list[BaseException] = []

        def guarded(fn: Any, *a: Any) -> None:
            try:
                fn(*a)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        with Timer() as t:
            th = threading.Thread(target=guarded, args=(lance_write, table, data))
            th.start()
            guarded(sqlite_write, conn, data)
            th.join()
        conn.close()
        if errors:
            raise errors[0]
        out["parallel_s"] = t.wall
    out["serial_s"] = out["sql_s"] + out["lance_s"]
    out["floor_s"] = min(out["serial_s"], out["parallel_s"])
    return out


# --- ours -----------------------------------------------------------------------------

async def ours_rep(workdir: str | None, data: dict[str, Any], as_numpy: bool) -> float:
    from agentmem_plugins import AsyncMemory

    n = len(data["texts"])
    vecs = data["vectors"]
    # input preparation (not timed): what a caller holding precomputed vectors passes
    items = [
        {"text": data["texts"][i], "user_id": data["users"][i], "metadata": data["metadata"][i],
         "vector": vecs[i] if as_numpy else vecs[i].tolist()}
        for i in range(n)
    ]
    with temp_store_dir(workdir, "ours-persist") as path:
        memory = AsyncMemory(path=path, embedder="none")
        try:
            warm = vecs[0] if as_numpy else vecs[0].tolist()
            await memory.add_many([{"text": "warm-up", "user_id": "warm", "vector": warm}])
            with Timer() as t:
                await memory.add_many(items)
        finally:
            await memory.close()
    return t.wall


def run(quick: bool = False, reps: int | None = None, workdir: str | None = None,
        n: int | None = None) -> list[Result]:
    n = n or (3_000 if quick else 10_000)
    reps = reps or (3 if quick else 5)
    rows: list[dict[str, float]] = []
    for r in range(reps):
        data = make_data(n, seed=500 + r)
        # alternate the order so slow drift on a shared machine hits both sides alike
        if r % 2 == 0:
            f = floor_rep(workdir, data)
            ours = asyncio.run(ours_rep(workdir, data, as_numpy=False))
        else:
            ours = asyncio.run(ours_rep(workdir, data, as_numpy=False))
            f = floor_rep(workdir, data)
        ours_np = asyncio.run(ours_rep(workdir, data, as_numpy=True))
        row = {**f, "ours_s": ours, "ours_np_s": ours_np}
        row["ratio"] = row["floor_s"] / row["ours_s"]
        row["ratio_np"] = row["floor_s"] / row["ours_np_s"]
        log(f"persistence rep {r + 1}/{reps}: sql {n / f['sql_s']:,.0f}/s, lance "
            f"{n / f['lance_s']:,.0f}/s, both-parallel {n / f['parallel_s']:,.0f}/s, floor "
            f"{n / f['floor_s']:,.0f}/s; ours {n / ours:,.0f}/s (numpy {n / ours_np:,.0f}/s) "
            f"-> ratio {row['ratio']:.2f}")
        rows.append(row)
    params = {"n": n, "reps": reps, "dim": DIM, "rows_per_sql_txn": TXN_ROWS,
              "floor": "min(serial sql+lance, measured two-thread parallel)"}

    def thr(key: str) -> list[float]:
        return [n / row[key] for row in rows]

    return [
        Result("persistence.ratio", WORKLOAD, "ours / floor (throughput)", "ratio",
               [row["ratio"] for row in rows], 0.6, ">=", params,
               notes="median of per-rep ratios (both sides measured in the same rep)"),
        Result("persistence.ours", WORKLOAD, "ours: add_many with list vectors", "memories/s",
               thr("ours_s"), params=params, diagnostic=True),
        Result("persistence.ours_numpy", WORKLOAD, "ours: add_many with numpy vectors",
               "memories/s", thr("ours_np_s"), params=params, diagnostic=True),
        Result("persistence.ratio_numpy", WORKLOAD, "ours (numpy vectors) / floor", "ratio",
               [row["ratio_np"] for row in rows], params=params, diagnostic=True),
        Result("persistence.floor", WORKLOAD, "floor: both stores written", "memories/s",
               thr("floor_s"), params=params, diagnostic=True),
        Result("persistence.floor_sqlite", WORKLOAD, "floor part: sqlite3 executemany",
               "memories/s", thr("sql_s"), params=params, diagnostic=True,
               notes="memories + history rows, 1,000 per transaction"),
        Result("persistence.floor_lance", WORKLOAD, "floor part: LanceDB 10k-row append",
               "rows/s", thr("lance_s"), params=params, diagnostic=True),
        Result("persistence.floor_parallel", WORKLOAD, "floor part: both in two threads",
               "memories/s", thr("parallel_s"), params=params, diagnostic=True),
    ]


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None)
    args = p.parse_args()
    finish(args, run(args.quick, args.reps, args.workdir, args.n))


if __name__ == "__main__":
    main()

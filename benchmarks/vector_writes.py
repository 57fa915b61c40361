"""LanceDB append vs ``merge_insert`` keyed on id (issue 8): what an idempotent upsert
costs, for batches of 1 and 1,000, on a table of ``--rows`` rows (64-d vectors).

The write path appends new ids (the SQL primary key made them new) and upserts only
replaced ids; this is the figure behind that choice.

    python -m benchmarks.vector_writes [--rows 100000] [--reps 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from typing import Any

import numpy as np


def main() -> None:
    import lancedb
    import pyarrow as pa

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--reps", type=int, default=10)
    args = p.parse_args()
    dim = 64
    rng = np.random.default_rng(0)
    nxt = [0]

    def batch(n: int) -> Any:
        ids = [f"{nxt[0] + i:032x}" for i in range(n)]
        nxt[0] += n
        flat = pa.array(rng.random((n, dim), dtype=np.float32).reshape(-1))
        return pa.table(
            {"id": ids, "rev": ["r"] * n, "vector": pa.FixedSizeListArray.from_arrays(flat, dim)}
        )

    tmp = tempfile.mkdtemp()
    try:
        db = lancedb.connect(tmp, read_consistency_interval=timedelta(0))
        table = db.create_table("t", batch(args.rows))

        def add(n: int) -> None:
            table.add(batch(n))

        def upsert(n: int) -> None:
            merge = table.merge_insert("id").when_matched_update_all()
            merge.when_not_matched_insert_all().execute(batch(n))

        times: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.reps):  # interleaved, so both see the same load
            for name, fn in (("append", add), ("merge_insert", upsert)):
                for n in (1, 1000):
                    t0 = time.perf_counter()
                    fn(n)
                    times.setdefault((name, n), []).append(time.perf_counter() - t0)
        for (name, n), ts in sorted(times.items()):
            print(
                f"{name:12s} batch {n:5d} on {args.rows:,} rows: "
                f"median {statistics.median(ts) * 1000:.1f} ms"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

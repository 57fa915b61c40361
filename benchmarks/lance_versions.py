"""What a LanceDB append costs as the table keeps more versions (issue 13, seventh pass;
diagnostics).

Appends of 10 rows (384 dimensions) to a fresh table opened with
``read_consistency_interval=0`` (as the store opens it), in steps of ``--step``; after
each step the process CPU per append and the manifests kept. Then the fragments are
compacted (versions kept) and the old versions dropped, one step each::

    python -m benchmarks.lance_versions [--steps 8] [--step 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa

DIM = 384


def _rows(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    vectors = rng.random((n, DIM), dtype=np.float32).reshape(-1)
    return pa.table(
        {
            "id": [f"m{start + i}" for i in range(n)],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors), DIM),
        }
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--step", type=int, default=100)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp(prefix="agentmem-lance-versions-"))
    try:
        db = lancedb.connect(folder, read_consistency_interval=timedelta(0))
        table = db.create_table("t", _rows(rng, 0, 100))
        written = 100

        def step(label: str) -> None:
            nonlocal written
            cpu0, walls = time.process_time(), []
            for _ in range(args.step):
                data = _rows(rng, written, 10)
                t0 = time.perf_counter()
                table.add(data)
                walls.append(time.perf_counter() - t0)
                written += 10
            cpu = (time.process_time() - cpu0) / args.step * 1000
            kept = len(os.listdir(folder / "t.lance" / "_versions"))
            print(f"{label:34s} manifests {kept:5d}  CPU {cpu:5.2f} ms/append  "
                  f"wall p50 {statistics.median(walls) * 1000:5.2f} ms")

        for _ in range(args.steps):
            step("appending")
        table.optimize(cleanup_older_than=timedelta(days=1))
        step("after compaction, versions kept")
        table.optimize(cleanup_older_than=timedelta(0))
        step("after dropping old versions")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Does an index build stall appends? LanceDB alone, no agentmem code (issue 14).

A table of ``--rows`` random 256-d vectors; while an index is built on it (in this
process on the same handle, or in a child process), 10-row appends run every 50 ms;
their latency percentiles are printed. ``LANCE_CPU_THREADS`` in the environment sizes
LanceDB's CPU pool (default: the number of cores).

    python -m benchmarks.index_stall --index hnsw --where same --rows 30000
    python -m benchmarks.index_stall --index sq --where child
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

DIM = 256


def _config(kind: str, rows: int) -> str:
    if kind == "hnsw":  # what the core built before issue 14
        return "IvfHnswSq(distance_type='cosine', num_partitions=1)"
    return f"IvfSq(distance_type='cosine', num_partitions={max(1, rows // 1600)})"


def main() -> None:
    import lancedb
    import pyarrow as pa

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", choices=["hnsw", "sq"], default="hnsw")
    p.add_argument("--where", choices=["same", "child"], default="same")
    p.add_argument("--rows", type=int, default=30_000)
    args = p.parse_args()
    path = tempfile.mkdtemp(prefix="index-stall-")
    rng = np.random.default_rng(0)

    def batch(n: int, offset: int) -> pa.Table:
        v = rng.standard_normal((n, DIM)).astype(np.float32)
        return pa.table({
            "id": [str(offset + i) for i in range(n)],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), DIM),
        })

    try:
        table = lancedb.connect(path).create_table("t", batch(args.rows, 0))
        config = _config(args.index, args.rows)
        code = ("import lancedb; from lancedb.index import IvfHnswSq, IvfSq; "
                f"lancedb.connect({path!r}).open_table('t').create_index('vector', "
                f"config={config})")
        took: list[float] = []

        def build() -> None:
            t0 = time.perf_counter()
            if args.where == "child":
                subprocess.run([sys.executable, "-c", code], check=True)
            else:
                exec(code.replace(f"lancedb.connect({path!r}).open_table('t')", "table"),
                     {"table": table})
            took.append(time.perf_counter() - t0)

        builder = threading.Thread(target=build)
        builder.start()
        lat, offset = [], args.rows
        while builder.is_alive():
            t0 = time.perf_counter()
            table.add(batch(10, offset))
            lat.append((time.perf_counter() - t0) * 1000)
            offset += 10
            time.sleep(0.05)
        ms = np.asarray(lat)
        print(f"{args.index} build in the {args.where} process: {took[0]:.1f} s; "
              f"{len(ms)} appends: p50 {np.percentile(ms, 50):.0f} ms, "
              f"p99 {np.percentile(ms, 99):.0f} ms, worst {ms.max():.0f} ms")
    finally:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()

"""A small LanceDB append, in an idle process and beside one busy Python thread.

Shows what a worker thread's LanceDB write costs when another thread (in the store: the
event loop) holds the GIL: the sync API crosses to LanceDB's event-loop thread and back,
and each crossing waits for the switch interval (issue 13, third pass in BENCHMARKS.md)::

    python -m benchmarks.lance_gil [--rows 7] [--appends 60]

Reports the median append through the sync API and through the async API on LanceDB's
loop, idle, beside a busy thread, and beside it with ``sys.setswitchinterval(0.0005)``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time

import numpy as np
import pyarrow as pa


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=7)
    p.add_argument("--appends", type=int, default=60)
    args = p.parse_args()
    import lancedb
    from lancedb.background_loop import LOOP

    ids = itertools.count()

    def data(n: int) -> pa.Table:
        v = np.random.rand(n, 256).astype(np.float32)
        return pa.table(
            {
                "id": [f"i{next(ids)}" for _ in range(n)],
                "text": ["hello world"] * n,
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), 256),
            }
        )

    with tempfile.TemporaryDirectory() as folder:
        table = lancedb.connect(folder).create_table("t", data(10_000))
        stop = threading.Event()

        def busy() -> None:
            x = 0
            while not stop.is_set():
                x += sum(range(100))

        def measure(label: str) -> None:
            sync, native = [], []
            for _ in range(args.appends):
                t0 = time.perf_counter()
                table.add(data(args.rows))
                sync.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                # the sync Table's AsyncTable: private, the call the sync API wraps
                LOOP.run(table._table.add(data(args.rows)))  # type: ignore[attr-defined]
                native.append(time.perf_counter() - t0)
            print(
                f"{label:34s} sync API p50 {1000 * statistics.median(sync):6.2f} ms, "
                f"async API on LanceDB's loop {1000 * statistics.median(native):6.2f} ms"
            )

        measure("idle")
        thread = threading.Thread(target=busy)
        thread.start()
        try:
            measure("one busy Python thread")
            sys.setswitchinterval(0.0005)
            measure("same, switch interval 0.5 ms")
        finally:
            stop.set()
            thread.join()
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

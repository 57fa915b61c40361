"""What LanceDB's own ANN query costs on a store's table, without the store (issue 14).

Opens the ``memories`` table of a store built by :mod:`benchmarks.search_trees` (or any
store), and times LanceDB's query the way the store issues it (async handle, one hop to
LanceDB's event loop, row addresses and distances only, ``limit`` 15 as the store asks
for ``k=10`` in a large scope) at several probe counts, for the same questions the
store is then asked (``"hash"`` embeddings; random vectors land in sparse partitions
and read fewer rows); then, in the same process, the store's whole ``search`` of the
large scope. The difference is
what the store adds (embedding, the records' read, exact re-score, result models)::

    python -m benchmarks.search_trees --size 100000 --store /tmp/s100k --trees . --rounds 1
    python -m benchmarks.lance_query_floor --store /tmp/s100k --probes 1,6,12,18 --rounds 2
    python -m benchmarks.lance_query_floor --store /tmp/s100k --probes 18 --steps

Reported per round: the p50 of ``--queries`` queries per probe count, and the store's
search p50 over as many questions (``user_id="docs"``, as ``search_trees`` asks); with
``--steps``, the p50 of each step of those searches (:func:`time_steps`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import numpy as np


async def _rows(query: Any) -> list[Any]:
    stream = await query._inner.execute()
    return [batch async for batch in stream]


def lance_p50(table: Any, vectors: np.ndarray, probes: int) -> float:
    from lancedb.background_loop import LOOP

    times = []
    for vector in vectors:
        query = (
            table._table.query()
            .nearest_to(vector)
            .column("vector")
            .distance_type("cosine")
            .limit(15)
            .select(["_distance"])
            .with_row_id()
            .nprobes(probes)
        )
        started = time.perf_counter()
        LOOP.run(_rows(query))
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def time_steps() -> dict[str, list[float]]:
    """Timers around the steps of the store's index search (patched in this process):
    LanceDB's query as the store runs it, the candidates' step around it (query built,
    addresses looked up), ``search_vector`` (with the records' read and the exact
    re-score) and the query's embedding. Returns the dict they fill, seconds per call."""
    import collections

    from agentmem_plugins import _embedding_runner
    from agentmem_plugins.storage import _vector_search, _vectors

    steps: dict[str, list[float]] = collections.defaultdict(list)

    def timed(fn: Any, label: str) -> Any:
        def run(*args: Any, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                steps[label].append(time.perf_counter() - started)

        return run

    hop = _vector_search._one_hop
    _vector_search._one_hop = lambda: timed(hop(), "LanceDB's query, one hop")
    index = _vectors.VectorIndex
    index._candidates = timed(index._candidates, "candidates (query, addresses)")  # type: ignore[method-assign]
    index.search_vector = timed(index.search_vector, "search_vector (+ records, re-score)")  # type: ignore[method-assign]
    runner = _embedding_runner.EmbeddingRunner
    runner.query_now = timed(runner.query_now, "query embedding")  # type: ignore[method-assign]
    return steps


async def store_p50(store: str, questions: list[str], steps: dict[str, list[float]]) -> float:
    from agentmem_plugins import AsyncMemory

    async with AsyncMemory(path=store, embedder="hash") as memory:
        for question in questions[:50]:  # the index into LanceDB's cache, the map built
            await memory.search(question, user_id="docs", limit=10)
        steps.clear()
        times = []
        for question in questions:
            started = time.perf_counter()
            await memory.search(question, user_id="docs", limit=10)
            times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", required=True, help="a store folder (search_trees --store)")
    p.add_argument("--probes", default="1,6,12,18")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", action="store_true", help="also time the search's steps")
    args = p.parse_args()
    steps: dict[str, list[float]] = time_steps() if args.steps else {}
    import lancedb

    from agentmem_plugins.embeddings import make_embedder

    from ._texts import sentences

    table = lancedb.connect(f"{args.store}/lancedb").open_table("memories")
    questions = sentences(args.queries, seed=7)
    embedder = make_embedder("hash")
    assert embedder is not None
    vectors = np.asarray([embedder.embed_query(q) for q in questions], dtype=np.float32)
    for n in range(args.rounds):
        lance = {int(k): lance_p50(table, vectors, int(k)) for k in args.probes.split(",")}
        whole = asyncio.run(store_p50(args.store, questions, steps))
        print(
            f"round {n + 1}: LanceDB query p50 by probes "
            + ", ".join(f"{k}: {v:.2f} ms" for k, v in lance.items())
            + f"; the store's search p50 {whole:.2f} ms"
            + "".join(f"; {label} {1000 * statistics.median(v):.2f}" for label, v in steps.items())
        )


if __name__ == "__main__":
    main()

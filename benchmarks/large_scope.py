"""Large scopes (issue 14): bulk ingest into one scope with a concurrent single-add probe,
then search in that scope and in small per-user scopes of the same store.

One run, one store, default ``MemoryConfig`` (the core decides by itself when to build
and retrain its ANN index), ``"hash"`` embedder over generated sentences
(``benchmarks/_texts.py``), never random vectors:

1. ``--users`` per-user scopes of ``--user-rows`` memories each (``add_many``);
2. bulk ingest of ``--size`` memories into one scope (``user_id="docs"``) with
   ``add_many`` in batches of ``--batch`` (1,000), while a probe task adds one memory to
   another scope every ``--probe-ms`` (50 ms) and records how long each ``add`` took;
   ingest throughput is logged per tenth of the ingest, with the probe's percentiles in
   that window and every index build the core reports;
3. the upkeep the idle writer runs by itself after the load is awaited, timed (a worn
   index is retrained once the table is quiet);
4. ``--queries`` searches in the large scope, end to end (``search(q, user_id="docs",
   limit=10)``), p50/p95, the process CPU time per search (all threads: a figure that a
   loaded, shared machine inflates less than wall time), and recall@10 against exact
   cosine search over the same texts (re-embedded: the embedder is deterministic; a hit
   counts if its exact score reaches the 10th best, so ties are not misses); with
   ``--search-at 100000`` the ingest also pauses at 100k rows, waits for the idle
   upkeep and runs the same searches there, so one 1M run reports both sizes (the
   pause counts neither in the ingest rates nor in the probe's percentiles);
5. the same in the per-user scopes (first search per user and all searches).

CPython's full (generation 2) garbage collections during the ingest are counted and
timed: each one holds the GIL for the whole pass over every tracked object (~170k after
importing lancedb, pyarrow, pydantic and SQLAlchemy; 100-300 ms on this machine), so
they showed in the probe's tail. The store now freezes them (``gc.freeze()``) when it opens
(``MemoryConfig.gc_freeze``); ``--no-gc-freeze`` turns that off, as a diagnostic.

    python -m benchmarks.large_scope --size 100000 [--json FILE] [--workdir DIR]
    python -m benchmarks.large_scope --size 1000000 --search-at 100000
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._common import base_parser, log, percentile, temp_store_dir, warm_up
from ._texts import questions, sentences, users

DOCS = "docs"


class _Builds(logging.Handler):
    """Collects the core's 'ANN index trained' log records with their time."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:  # why upkeep failed
            message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        if "ANN index" in message or "maintenance failed" in message:
            self.events.append((time.perf_counter(), message))


class _FullCollections:
    """Wall time of every generation-2 collection (a GIL-wide pause) while installed."""

    def __init__(self) -> None:
        self.pauses_ms: list[float] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses_ms.append((time.perf_counter() - self._t0) * 1000)

    def __enter__(self) -> _FullCollections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def _pcts(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(max(values), 2),
    }


async def _probe(memory: Any, every_s: float, out: list[tuple[float, float]],
                 stop: asyncio.Event, go: asyncio.Event) -> None:
    i = 0
    while not stop.is_set():
        await go.wait()  # cleared while the ingest pauses (the store must go idle)
        t0 = time.perf_counter()
        await memory.add(f"probe note {i}: the agent saw event {i * 7 % 101}",
                         user_id="probe", infer=False)
        t1 = time.perf_counter()
        out.append((t1, (t1 - t0) * 1000))
        i += 1
        await asyncio.sleep(max(0.0, every_s - (t1 - t0)))


async def ingest(memory: Any, size: int, batch: int, probe_ms: float, builds: _Builds,
                 pause_at: list[int] | None = None,
                 paused: Callable[[int], Awaitable[None]] | None = None) -> dict[str, Any]:
    """The bulk ingest with the probe. At each row count in ``pause_at`` the ingest pauses
    for ``paused(rows)`` (searches at an intermediate size), and so does the probe: the
    writer's idle upkeep waits for the writes to stop. The pauses count neither in the
    ingest's rates nor in the probe's percentiles."""
    pauses: list[tuple[float, float]] = []
    probes: list[tuple[float, float]] = []
    stop, go = asyncio.Event(), asyncio.Event()
    go.set()
    probe = asyncio.create_task(_probe(memory, probe_ms / 1000, probes, stop, go))
    windows: list[dict[str, Any]] = []
    step = max(batch, size // 10)
    texts_seed = 1_000
    t_start = time.perf_counter()
    w_start, w_rows = t_start, 0
    paused_s, w_paused_s = 0.0, 0.0  # in all, and in this window
    full_gc = _FullCollections().__enter__()
    for start in range(0, size, batch):
        n = min(batch, size - start)
        texts = sentences(n, seed=texts_seed + start)
        await memory.add_many([{"text": t, "user_id": DOCS} for t in texts])
        w_rows += n
        done = start + n
        if paused is not None and done in (pause_at or ()):
            stopped = time.perf_counter()
            go.clear()
            await paused(done)
            go.set()
            resumed = time.perf_counter()
            pauses.append((stopped, resumed))
            paused_s += resumed - stopped  # the rates leave the pause out
            w_paused_s += resumed - stopped
        if done % step == 0 or done == size:
            now = time.perf_counter()
            lat = [ms for t, ms in probes if w_start <= t < now and not _in(t, pauses)]
            rate = w_rows / (now - w_start - w_paused_s)
            windows.append({"rows": done, "elapsed_s": round(now - t_start - paused_s, 1),
                            "rows_per_s": round(rate),
                            "probe": _pcts(lat)})
            log(f"  {done:,} rows at {now - t_start - paused_s:.0f} s: {rate:,.0f}/s "
                f"in this window; probe add p50 {windows[-1]['probe']['p50']} ms, "
                f"p99 {windows[-1]['probe']['p99']}, max {windows[-1]['probe']['max']}")
            w_start, w_rows, w_paused_s = now, 0, 0.0
    ingest_s = time.perf_counter() - t_start - paused_s
    stop.set()
    await probe
    full_gc.__exit__()
    lat = [ms for t, ms in probes if not _in(t, pauses)]
    gc_pauses = full_gc.pauses_ms
    return {
        "rows": size, "seconds": round(ingest_s, 1), "rows_per_s": round(size / ingest_s),
        "windows": windows, "probe_adds": _pcts(lat), "started": t_start,
        "full_gc": {"count": len(gc_pauses), "total_ms": round(sum(gc_pauses)),
                    "max_ms": round(max(gc_pauses, default=0.0), 1)},
    }


def _in(t: float, spans: list[tuple[float, float]]) -> bool:
    return any(a <= t <= b for a, b in spans)


def _truth(matrix: np.ndarray, qv: np.ndarray) -> tuple[np.ndarray, float]:
    scores = matrix @ qv
    k = min(10, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    return scores, float(scores[top].min())


async def search_scope(memory: Any, uid: str | list[str], ids_texts: Any, n_queries: int,
                       seed: int, mats: dict[str, Any] | None = None) -> dict[str, Any]:
    """p50/p95 and recall@10 of ``search`` in one scope (or round-robin over several);
    ``mats`` keeps the re-embedded scopes between calls."""
    from agentmem_plugins.embeddings import HashEmbedder

    emb = HashEmbedder()
    qs = questions(n_queries, seed=seed)
    uids = [uid] if isinstance(uid, str) else uid
    mats = {} if mats is None else mats
    for u in uids:
        if u in mats:
            continue
        ids, texts = ids_texts[u]
        vecs = np.vstack([emb.embed_documents(texts[i:i + 50_000])
                          for i in range(0, len(texts), 50_000)]).astype(np.float32)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        mats[u] = ({m: i for i, m in enumerate(ids)}, vecs)
    # exact answers first: a numpy product between timed searches would leave BLAS
    # threads spinning into the next search's wall and CPU time
    truth = []
    for n, q in enumerate(qs):
        index, vecs = mats[uids[n % len(uids)]]
        qv = emb.embed_query(q).astype(np.float32)
        qv /= max(float(np.linalg.norm(qv)), 1e-12)
        truth.append(_truth(vecs, qv))
    await warm_up(lambda q: memory.search(q, user_id=uids[0], limit=10), qs[:10])
    lat, first, rec = [], [], []
    cpu = 0.0
    seen: set[str] = set()
    answers = []
    for n, q in enumerate(qs):
        u = uids[n % len(uids)]
        c0, t0 = time.process_time(), time.perf_counter()
        hits = await memory.search(q, user_id=u, limit=10)
        ms = (time.perf_counter() - t0) * 1000
        cpu += time.process_time() - c0
        lat.append(ms)
        answers.append(hits)
        if u not in seen:
            first.append(ms)
            seen.add(u)
    for n, hits in enumerate(answers):
        index = mats[uids[n % len(uids)]][0]
        scores, kth = truth[n]
        k = min(10, len(scores))
        good = sum(1 for h in hits[:k] if h.id in index and scores[index[h.id]] >= kth - 1e-5)
        rec.append(good / k)
    return {"latency_ms": _pcts(lat), "first_per_scope_ms": _pcts(first),
            "process_cpu_ms_per_search": round(cpu * 1000 / len(qs), 2),
            "recall_at_10": round(float(np.mean(rec)), 4), "queries": len(qs),
            "scopes": len(uids)}


async def _settle(memory: Any) -> float:
    """Wait for the upkeep the idle writer runs by itself once writes stop (a worn index
    is retrained when the table is quiet), at most 5 minutes; seconds waited."""
    t0 = time.perf_counter()
    await memory.flush()
    while memory._writer.upkeep.pending() and time.perf_counter() - t0 < 300:
        await asyncio.sleep(0.1)
    await memory._writer.upkeep.wait()
    return round(time.perf_counter() - t0, 1)


async def _docs(memory: Any) -> tuple[list[str], list[str]]:
    """Ids and texts of the large scope as stored now."""
    ids = await memory._io(memory._stores.records.ids, {"user_id": DOCS}, None)
    texts_by_id = {m.id: m.text for m in await memory.get_all(user_id=DOCS, limit=None)}
    return ids, [texts_by_id[i] for i in ids]


def _upkeep_in_process(memory: Any) -> None:
    """Diagnostic (``--in-process-upkeep``): run the worker's upkeep in this process, as
    before issue 14, to show the stall side by side on the same machine."""
    from agentmem_plugins.storage._upkeep import upkeep

    vectors = memory._stores.vectors

    def in_process(**kwargs: Any) -> dict[str, Any]:
        return upkeep(vectors._table, **kwargs)

    vectors._worker.upkeep = in_process


async def run(path: Path, size: int, batch: int, n_users: int, user_rows: int,
              probe_ms: float, n_queries: int, in_process: bool = False,
              gc_freeze: bool = True, probe_shares: list[float] | None = None,
              search_at: list[int] | None = None, io_threads: int = 8) -> dict[str, Any]:
    from agentmem_plugins import AsyncMemory

    builds = _Builds()
    logging.getLogger("agentmem_plugins").addHandler(builds)
    logging.getLogger("agentmem_plugins").setLevel(logging.INFO)
    out: dict[str, Any] = {"size": size, "batch": batch, "users": n_users,
                           "user_rows": user_rows, "probe_ms": probe_ms,
                           "upkeep": "in-process (diagnostic)" if in_process else "worker",
                           "gc_freeze": gc_freeze, "io_threads": io_threads}
    async with AsyncMemory(path=path, embedder="hash", gc_freeze=gc_freeze,
                           io_threads=io_threads) as memory:
        if in_process:
            _upkeep_in_process(memory)
        kept: dict[str, tuple[list[str], list[str]]] = {}
        for n, u in enumerate(users(n_users)):
            texts = sentences(user_rows, seed=50_000 + n)
            kept[u] = (await memory.add_many([{"text": t, "user_id": u} for t in texts]), texts)
        log(f"large_scope: {n_users} user scopes of {user_rows:,}; bulk ingest of {size:,}")
        out["search_large_scope_at"] = {}

        async def search_now(rows: int) -> None:  # the ingest paused at ``rows``
            idle_upkeep = await _settle(memory)
            found = await search_scope(memory, DOCS, {**kept, DOCS: await _docs(memory)},
                                       n_queries, seed=3)
            found["idle_upkeep_s"] = idle_upkeep
            out["search_large_scope_at"][str(rows)] = found
            log(f"large_scope: search in the scope at {rows:,} rows (ingest paused): {found}")

        out["ingest"] = await ingest(memory, size, batch, probe_ms, builds, search_at,
                                     search_now)
        out["upkeep_after_ingest_s"] = {"idle_upkeep": await _settle(memory)}
        # the LanceDB index's table (this store is a local path): private, not on the protocol
        stats = memory._stores.vectors._table  # type: ignore[attr-defined]
        vec = [ix for ix in stats.list_indices() if list(ix.columns) == ["vector"]]
        from agentmem_plugins.storage._upkeep import (
            ann_partitions,
            ann_probes,
            index_partitions,
            trained_rows,
        )

        trained = max((trained_rows(ix.name) for ix in vec), default=0)
        out["ann_index"] = {"names": [ix.name for ix in vec],
                            "partitions": ann_partitions(trained),
                            "probes": ann_probes(trained),
                            "partitions_found": index_partitions(stats) if vec else None, **(
            vars(stats.index_stats(vec[0].name)) if vec else {})}
        log(f"large_scope: ingest {out['ingest']['rows_per_s']:,}/s, probe "
            f"{out['ingest']['probe_adds']}, full GCs {out['ingest']['full_gc']}, "
            f"index {out['ann_index']}")
        kept[DOCS] = await _docs(memory)
        mats: dict[str, Any] = {}
        out["search_large_scope"] = await search_scope(memory, DOCS, kept, n_queries, seed=3,
                                                        mats=mats)
        log(f"large_scope: search in the {size:,}-row scope {out['search_large_scope']}")
        if probe_shares:  # latency and recall of other probe counts, same index and store
            from agentmem_plugins.storage import _upkeep

            default, out["probe_sweep"] = _upkeep.PROBES_PER_ROOT, {}
            parts = out["ann_index"]["partitions"]
            try:
                for share in probe_shares:  # as a share of the partitions
                    probes = max(1, math.ceil(share * parts))
                    _upkeep.PROBES_PER_ROOT = probes / math.sqrt(parts)
                    found = await search_scope(memory, DOCS, kept, n_queries, seed=3, mats=mats)
                    out["probe_sweep"][f"{share} ({probes} probes)"] = found
                    log(f"large_scope: {probes} probes ({share} of {parts}): {found}")
            finally:
                _upkeep.PROBES_PER_ROOT = default
        mats.clear()
        out["search_user_scopes"] = await search_scope(
            memory, users(n_users), kept, n_queries, seed=4)
        log(f"large_scope: search in {user_rows:,}-row user scopes {out['search_user_scopes']}")
    # every index build the core reported, in seconds from the start of the bulk ingest
    start = out["ingest"].pop("started")
    out["builds"] = [(round(t - start, 1), m) for t, m in builds.events]
    return out


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=1_000)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--user-rows", type=int, default=1_000)
    p.add_argument("--probe-ms", type=float, default=50.0)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--in-process-upkeep", action="store_true",
                   help="diagnostic: index upkeep in this process, as before issue 14")
    p.add_argument("--no-gc-freeze", dest="gc_freeze", action="store_false",
                   help="diagnostic: MemoryConfig(gc_freeze=False), the collector left alone")
    p.add_argument("--probe-shares", default="",
                   help="also search the large scope probing these shares of its IVF "
                        "partitions, e.g. 0.05,0.1 (default: _upkeep.ann_probes)")
    p.add_argument("--search-at", default="",
                   help="also pause the ingest at these row counts (e.g. 100000) and search "
                        "the large scope there: one run reports 100k and 1M")
    p.add_argument("--io-threads", type=int, default=8,
                   help="MemoryConfig.io_threads (issue 13's fifth pass compares 4 and 8)")
    args = p.parse_args()
    with temp_store_dir(args.workdir, f"large-{args.size}") as path:
        result = asyncio.run(run(path, args.size, args.batch, args.users, args.user_rows,
                                 args.probe_ms, args.queries, args.in_process_upkeep,
                                 args.gc_freeze,
                                 [float(x) for x in args.probe_shares.split(",") if x],
                                 [int(x) for x in args.search_at.split(",") if x],
                                 args.io_threads))
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()

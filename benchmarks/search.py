"""Workload 6 - vector search latency and recall with a scope filter, at 10k/100k/1M.

Stores are built with ``add_many`` (chunks of 10,000 generated sentences, 100 users,
``"hash"`` embedder, default ``MemoryConfig``: the core decides by itself whether and
when to build its ANN index). Ingestion time and throughput are reported too.

Queries: questions generated from the same vocabulary (never stored texts), each for
one of 20 users; ``await memory.search(q, user_id=u, limit=10)``, one at a time,
end to end (query embedding, LanceDB with the scope prefilter, records from SQL).
p50/p95 per rep (after a warm-up), median over reps.

Recall@10 against exact search: the same embedder re-embeds that user's texts (it is
deterministic), numpy brute force gives the true top 10; a returned memory counts as
correct if its exact score reaches the 10th best exact score (ties are not misses).

Reported per size: p50, p95, recall@10, ingest throughput, whether the ANN index exists
and how many rows it does not cover yet, the LanceDB-only part of the latency and the
numpy brute-force time over the scope (diagnostics), and then the same latency/recall
after forcing the core's own maintenance (diagnostic: what a fully indexed table gives).

Targets: p50 <= 5 ms at 100k, <= 10 ms at 1M; recall@10 >= 0.95.

    python -m benchmarks.search [--quick] [--sizes 10000,100000] [--with-1m] [--queries 200]
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._common import (
    Result,
    Timer,
    base_parser,
    finish,
    lance_table_info,
    log,
    percentile,
    temp_store_dir,
)
from ._texts import item_stream, metadata_for, questions, users

WORKLOAD = "6. Search with scope filter"
N_USERS = 100
QUERY_USERS = 20
CHUNK = 10_000
P50_TARGETS = {100_000: 5.0, 1_000_000: 10.0}


async def build(path: Path, size: int, seed: int) -> tuple[Any, dict[str, Any]]:
    from agentmem_plugins import AsyncMemory

    memory = AsyncMemory(path=path, embedder="hash")
    uids = users(N_USERS)
    kept: dict[str, tuple[list[str], list[str]]] = {u: ([], []) for u in uids[:QUERY_USERS]}
    ingest_s = 0.0
    cpu_s = 0.0
    for start, texts, uidx in item_stream(size, N_USERS, CHUNK, seed=seed):
        items = [
            {"text": t, "user_id": uids[u], "metadata": metadata_for(start + i)}
            for i, (t, u) in enumerate(zip(texts, uidx, strict=False))
        ]
        with Timer() as t:
            ids = await memory.add_many(items)
        ingest_s += t.wall
        cpu_s += t.cpu
        for i, u in enumerate(uidx):
            if u < QUERY_USERS:
                kept[uids[u]][0].append(ids[i])
                kept[uids[u]][1].append(texts[i])
        if (start // CHUNK) % max(1, size // CHUNK // 10) == 0:
            log(f"  ingested {start + len(texts):,} ({(start + len(texts)) / ingest_s:,.0f}/s "
                f"overall, this chunk {len(texts) / t.wall:,.0f}/s)")
    return memory, {"ingest_s": ingest_s, "cpu_s": cpu_s, "kept": kept}


def ground_truth(kept: dict[str, tuple[list[str], list[str]]], qs: list[tuple[str, str]]
                 ) -> list[dict[str, Any]]:
    from agentmem_plugins.embeddings import HashEmbedder

    emb = HashEmbedder()
    by_user: dict[str, Any] = {}
    out = []
    for q, u in qs:
        if u not in by_user:
            ids, texts = kept[u]
            by_user[u] = (ids, emb.embed_documents(texts))
        ids, mat = by_user[u]
        qv = emb.embed_query(q)
        t0 = time.perf_counter()
        scores = mat @ qv
        k = min(10, len(ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        bf_ms = (time.perf_counter() - t0) * 1000
        out.append({
            "kth": float(scores[top[-1]]) if k else 0.0, "k": k, "bf_ms": bf_ms,
            "score": dict(zip(ids, scores.tolist(), strict=False)), "qv": qv,
        })
    return out


def recall(hits: list[str], truth: dict[str, Any]) -> float:
    if truth["k"] == 0:
        return 1.0
    good = sum(1 for h in hits[: truth["k"]] if truth["score"].get(h, -9.0) >= truth["kth"] - 1e-5)
    return good / truth["k"]


async def measure(memory: Any, qs: list[tuple[str, str]], truth: list[dict[str, Any]],
                  reps: int) -> dict[str, Any]:
    errors: dict[str, int] = {}

    async def search(q: str, u: str) -> list[str] | None:
        try:
            return [h.id for h in await memory.search(q, user_id=u, limit=10)]
        except Exception as exc:  # a failing search is a finding, not a crash of the run
            key = f"{type(exc).__name__}: {exc}"[:200]
            errors[key] = errors.get(key, 0) + 1
            return None

    for q, u in qs[:20]:  # warm-up
        await search(q, u)
    p50s, p95s, recalls = [], [], []
    for _ in range(reps):
        lat, rec = [], []
        for (q, u), tr in zip(qs, truth, strict=False):
            t0 = time.perf_counter()
            hits = await search(q, u)
            if hits is None:
                rec.append(0.0)
                continue
            lat.append((time.perf_counter() - t0) * 1000)
            rec.append(recall(hits, tr))
        if lat:
            p50s.append(percentile(lat, 50))
            p95s.append(percentile(lat, 95))
        recalls.append(float(np.mean(rec)))
    # LanceDB part alone (diagnostic; private API, may move)
    lance = []
    vectors = getattr(getattr(memory, "_stores", None), "vectors", None)
    if vectors is not None:
        overfetch = memory.config.search_overfetch
        for (_, u), tr in zip(qs, truth, strict=False):
            t0 = time.perf_counter()
            try:
                vectors.search_vector(tr["qv"], {"user_id": u}, max(10 * overfetch, 16))
            except Exception:
                continue
            lance.append((time.perf_counter() - t0) * 1000)
    n_calls = (reps * len(qs)) + min(20, len(qs))
    return {"p50": p50s, "p95": p95s, "recall": recalls,
            "lance_p50": percentile(lance, 50) if lance else None,
            "errors": errors, "error_rate": sum(errors.values()) / n_calls}


def _med(values: list[float]) -> str:
    return f"{np.median(values):.3f}" if values else "n/a"


def ann_summary(info: dict[str, Any]) -> dict[str, Any]:
    vec = [ix for ix in info.get("indices", []) if ix["columns"] == ["vector"]]
    return {
        "ann_index": vec[0]["type"] if vec else None,
        "indexed_rows": vec[0].get("num_indexed_rows") if vec else 0,
        "unindexed_rows": vec[0].get("num_unindexed_rows") if vec else info.get("rows"),
        "fragments": info.get("fragments"),
        "scalar_indices": [
            ix["type"] for ix in info.get("indices", []) if ix["columns"] != ["vector"]
        ],
    }


async def one_size(workdir: str | None, size: int, n_queries: int, reps: int,
                   force_maintain: bool) -> list[Result]:
    with temp_store_dir(workdir, f"search-{size}") as path:
        log(f"search: building a {size:,}-memory store")
        memory, built = await build(path, size, seed=size)
        try:
            qtexts = questions(n_queries, seed=size)
            rng = np.random.default_rng(size)
            quids = users(QUERY_USERS)
            picks = rng.integers(QUERY_USERS, size=n_queries)
            qs = [(q, quids[i]) for q, i in zip(qtexts, picks, strict=True)]
            truth = ground_truth(built["kept"], qs)
            ann = ann_summary(lance_table_info(path))
            log(f"search {size:,}: ingest {size / built['ingest_s']:,.0f}/s, index {ann}")
            m = await measure(memory, qs, truth, reps)
            log(f"search {size:,}: p50 {_med(m['p50'])} ms, p95 {_med(m['p95'])} ms, recall@10 "
                f"{_med(m['recall'])}, lance part p50 {m['lance_p50']}, errors {m['errors']}")
            forced = None
            if force_maintain and hasattr(memory, "_stores"):
                with Timer() as t:
                    await memory.flush()
                    await memory._io(memory._stores.maintain)  # the core's own upkeep
                ann2 = ann_summary(lance_table_info(path))
                forced = {"maintain_s": t.wall, **ann2, **await measure(memory, qs, truth, reps)}
                log(f"search {size:,} after forced maintain ({t.wall:.1f} s): p50 "
                    f"{_med(forced['p50'])} ms, recall {_med(forced['recall'])}, {ann2}, "
                    f"errors {forced['errors']}")
        finally:
            await memory.close()
    label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
    params = {"memories": size, "users": N_USERS, "rows_per_user": size // N_USERS,
              "queries": n_queries, "reps": reps, "embedder": "hash (256-d)", **ann,
              "ingest_s": round(built["ingest_s"], 2)}
    bf = [t["bf_ms"] for t in truth]
    err_note = (f"{m['error_rate']:.0%} of searches FAILED: {m['errors']}" if m["errors"] else "")
    wl = f"{WORKLOAD} @ {label}"
    out = [
        Result(f"search.{label}.p50", wl, "p50 latency", "ms", m["p50"],
               P50_TARGETS.get(size), "<=" if size in P50_TARGETS else None, params,
               notes=err_note),
        Result(f"search.{label}.p95", wl, "p95 latency", "ms", m["p95"], params=params,
               notes=err_note),
        Result(f"search.{label}.recall", wl, "recall@10 vs exact", "ratio", m["recall"],
               0.95, ">=", params, notes=("failed searches count as recall 0; " + err_note)
               if err_note else ""),
        Result(f"search.{label}.ingest", wl, "ingest (add_many, 10k chunks)", "memories/s",
               [size / built["ingest_s"]], params=params, diagnostic=True,
               notes=f"{built['ingest_s']:.1f} s for {size:,}; one build, not repeated"),
        Result(f"search.{label}.lance_p50", wl, "LanceDB part of the search, p50", "ms",
               [m["lance_p50"]] if m["lance_p50"] is not None else [], params=params,
               diagnostic=True),
        Result(f"search.{label}.bruteforce_p50", wl, "numpy brute force over the scope, p50",
               "ms", [percentile(bf, 50)], params=params, diagnostic=True),
    ]
    if forced:
        fparams = {**params, **{k: forced[k] for k in ("ann_index", "indexed_rows",
                   "unindexed_rows", "fragments")}, "maintain_s": round(forced["maintain_s"], 2)}
        out += [
            Result(f"search.{label}.maintained.p50", wl, "p50 after forced maintain()", "ms",
                   forced["p50"], params=fparams, diagnostic=True,
                   notes=(f"{forced['error_rate']:.0%} of searches FAILED: {forced['errors']}"
                          if forced["errors"] else "")),
            Result(f"search.{label}.maintained.p95", wl, "p95 after forced maintain()", "ms",
                   forced["p95"], params=fparams, diagnostic=True),
            Result(f"search.{label}.maintained.recall", wl, "recall@10 after forced maintain()",
                   "ratio", forced["recall"], params=fparams, diagnostic=True),
        ]
    return out


def run(quick: bool = False, reps: int | None = None, workdir: str | None = None,
        sizes: list[int] | None = None, with_1m: bool = False, queries: int | None = None,
        force_maintain: bool = True) -> list[Result]:
    if sizes is None:
        sizes = [2_000, 20_000] if quick else [10_000, 100_000]
        if with_1m:
            sizes.append(1_000_000)
    reps = reps or 3
    queries = queries or (50 if quick else 200)
    out: list[Result] = []
    for size in sizes:
        out += asyncio.run(one_size(workdir, size, queries, reps, force_maintain))
    return out


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default=None, help="comma-separated store sizes")
    p.add_argument("--with-1m", action="store_true", help="add the 1,000,000 store (slow)")
    p.add_argument("--queries", type=int, default=None)
    p.add_argument("--no-force-maintain", action="store_true")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    finish(args, run(args.quick, args.reps, args.workdir, sizes, args.with_1m, args.queries,
                     not args.no_force_maintain))


if __name__ == "__main__":
    main()

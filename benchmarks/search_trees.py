"""Search latency of two code trees on one large store, side by side (issue 14).

``large_scope`` builds a store, ingests and then searches it once; a change to the read
path needs the same store searched by the code before and after, on the same machine
in the same minutes (this machine's speed moves by up to 2x within an hour). This
builds the store once (or reuses ``--store``), the same shape as ``large_scope``'s:
``--users`` scopes of 1,000 memories and one scope (``user_id="docs"``) of ``--size``
memories, ``"hash"`` embedder over generated sentences, default ``MemoryConfig``; waits
for the writer's own index upkeep; then, for ``--rounds`` rounds, runs each tree in a
subprocess of its own (the trees alternate, so both see the same load):

* 200 questions in the large scope (``search(q, user_id="docs", limit=10)``): p50, p95,
  process CPU per search;
* 200 questions in the user scopes;
* whether the tree's top 10 equals the first tree's (same store, same questions).

    python -m benchmarks.search_trees --size 1000000 --store /tmp/s1m \\
        --trees /tmp/base,. --rounds 3 [--json FILE]
    python -m benchmarks.search_trees --size 60000 --users 0 --store /tmp/s60k-s3 --s3 ...

``--s3`` keeps the vectors in LanceDB on a loopback moto S3 server (started here, for this
run only: the store is built each time) and the records in ``--store``. ``--postgres URL``
keeps everything in that database (records, and vectors and full text in pgvector;
``bash .ci/start-postgres.sh`` prints a local server's URL; the database must be empty
when ``--store`` is missing, and ``--store`` then only marks the build as done).

A tree is a checkout (``git archive <commit> | tar -x -C /tmp/base``); its
``agentmem_plugins`` runs the searches, this file's harness drives them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _config(
    path: Path, s3_options: str | None, postgres: str | None, extra: str = "{}"
) -> dict[str, Any]:
    """The store's config; ``s3_options``: the moto server's storage options as JSON;
    ``postgres``: a database URL that then holds everything (records and pgvector);
    ``extra``: more ``MemoryConfig`` fields as JSON (the searches' only)."""
    config: dict[str, Any] = {"path": path, "embedder": "hash", **json.loads(extra)}
    if s3_options:
        config.update(vector_uri="s3://bench/search-trees", storage_options=json.loads(s3_options))
    if postgres:
        config.update(sql_url=postgres, vector_uri=postgres)
    return config


async def build(config: dict[str, Any], size: int, n_users: int) -> None:
    from agentmem_plugins import AsyncMemory

    from ._common import log
    from ._texts import sentences, users
    from .large_scope import _settle

    async with AsyncMemory(**config) as memory:
        for n, u in enumerate(users(n_users)):
            texts = sentences(1_000, seed=50_000 + n)  # large_scope's user scopes
            await memory.add_many([{"text": t, "user_id": u} for t in texts])
        t0 = time.perf_counter()
        for start in range(0, size, 10_000):
            texts = sentences(min(10_000, size - start), seed=start)
            for i in range(0, len(texts), 1_000):
                await memory.add_many([{"text": t, "user_id": "docs"} for t in texts[i:i + 1_000]])
        log(f"search_trees: {size:,} rows in {time.perf_counter() - t0:.0f} s; upkeep "
            f"{await _settle(memory)} s")


async def measure(config: dict[str, Any], n_users: int, n_queries: int) -> dict[str, Any]:
    """One tree's searches (run in that tree's subprocess)."""
    import numpy as np

    from agentmem_plugins import AsyncMemory

    from ._common import percentile, warm_up
    from ._texts import questions, users

    code = sys.modules["agentmem_plugins"].__file__
    assert code is not None  # a regular package, imported from its files
    out: dict[str, Any] = {"code": str(Path(code).parent)}
    async with AsyncMemory(**config) as memory:
        qs = questions(n_queries, seed=3)
        kinds = [("large_scope", ["docs"]), ("user_scopes", users(n_users))]
        for name, scopes in kinds[: 2 if n_users else 1]:
            first = scopes[0]
            await warm_up(lambda q, u=first: memory.search(q, user_id=u, limit=10), qs[:10])
            lat, top, cpu = [], [], 0.0
            for n, q in enumerate(qs):
                c0, t0 = time.process_time(), time.perf_counter()
                hits = await memory.search(q, user_id=scopes[n % len(scopes)], limit=10)
                lat.append((time.perf_counter() - t0) * 1000)
                cpu += time.process_time() - c0
                top.append(sorted(h.id for h in hits))
            out[name] = {"p50_ms": round(percentile(lat, 50), 2),
                         "p95_ms": round(percentile(lat, 95), 2),
                         "cpu_ms_per_search": round(cpu * 1000 / len(qs), 2),
                         "top10": top, "mean_hits": float(np.mean([len(t) for t in top]))}
    return out


def main() -> None:
    from ._common import base_parser

    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--store", required=True, help="the store folder (built if missing)")
    p.add_argument("--trees", default=".", help="comma-separated code trees, first = reference")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--s3", action="store_true", help="vectors on a loopback moto S3 server")
    p.add_argument("--s3-options", default=None, help=argparse.SUPPRESS)
    p.add_argument("--postgres", default=None, help="everything in this PostgreSQL database "
                   "(built there when --store, then only a marker folder, is missing)")
    p.add_argument("--config", default="{}", help='MemoryConfig fields for the searches, as '
                   'JSON, e.g. \'{"scope_cache_mb": 0}\' (a store under writes)')
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # a tree's subprocess
    args = p.parse_args()
    store = Path(args.store)
    if args.one:  # that tree's agentmem_plugins, this tree's harness
        assert "agentmem_plugins" not in sys.modules
        sys.path.insert(0, args.one)
        config = _config(store, args.s3_options, args.postgres, args.config)
        print(json.dumps(asyncio.run(measure(config, args.users, args.queries))))
        return
    server = None
    if args.s3:
        from .multiprocess import s3_server

        if store.exists():
            raise SystemExit(f"--s3 builds its store each run: remove {store} first")
        server, options = s3_server()
        args.s3_options = json.dumps(options)
    try:
        _compare(args, store)
    finally:
        if server is not None:  # the store's vectors went with the server
            server.stop()
            shutil.rmtree(store, ignore_errors=True)


def _compare(args: argparse.Namespace, store: Path) -> None:
    from ._common import environment, log

    if not store.exists():
        asyncio.run(build(_config(store, args.s3_options, args.postgres), args.size, args.users))
        store.mkdir(parents=True, exist_ok=True)  # everything in PostgreSQL: only the marker
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    runs: dict[str, list[dict[str, Any]]] = {str(t): [] for t in trees}
    for r in range(args.rounds):
        for tree in trees:
            cmd = [sys.executable, "-m", "benchmarks.search_trees", "--one", str(tree),
                   "--store", str(store), "--users", str(args.users),
                   "--queries", str(args.queries)]
            if args.s3_options:
                cmd += ["--s3-options", args.s3_options]
            if args.postgres:
                cmd += ["--postgres", args.postgres]
            cmd += ["--config", args.config]
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
            found = json.loads(done.stdout.strip().splitlines()[-1])
            assert Path(found["code"]).parent == tree, f"{tree} ran {found['code']}"
            runs[str(tree)].append(found)
            log(f"round {r + 1} {tree}: " + "; ".join(
                f"{name} {_brief(found[name])}" for name in ("large_scope", "user_scopes")
                if name in found))
    reference = runs[str(trees[0])][0]
    summary: dict[str, Any] = {"size": args.size, "store": str(store), "s3": args.s3,
                               "postgres": args.postgres, "config": json.loads(args.config),
                               "env": environment(),
                               "trees": {}}
    for tree_name, tree_runs in runs.items():
        summary["trees"][tree_name] = {
            name: {
                "p50_ms": [f[name]["p50_ms"] for f in tree_runs],
                "p95_ms": [f[name]["p95_ms"] for f in tree_runs],
                "cpu_ms_per_search": [f[name]["cpu_ms_per_search"] for f in tree_runs],
                "same_top10_as_first_tree": sum(
                    a == b for a, b in zip(tree_runs[0][name]["top10"],
                                           reference[name]["top10"], strict=True)),
            }
            for name in ("large_scope", "user_scopes")
            if name in tree_runs[0]
        }
    print(json.dumps(summary["trees"], indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


def _brief(found: dict[str, Any]) -> str:
    return (f"p50 {found['p50_ms']} ms, p95 {found['p95_ms']} ms, "
            f"CPU {found['cpu_ms_per_search']} ms")


if __name__ == "__main__":
    main()

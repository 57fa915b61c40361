"""Workload 2 - batch mode: one ``add_many`` of 10,000 texts, offline ``"hash"`` embedder.

Items carry text, one of 100 user ids and small JSON metadata; the embedder runs inside
``add_many`` (it is part of the measured time). Throughput = items / wall time of the
``add_many`` call (it returns when every item is durable in both stores). Fresh store
per repetition, opened and warmed with one item first. Target: >= 30,000 memories/s.

    python -m benchmarks.batch_mode [--quick] [--n 10000] [--reps 5]
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._common import Result, Timer, base_parser, finish, log, temp_store_dir
from ._texts import metadata_for, sentences, users

WORKLOAD = "2. Batch mode (add_many, hash embedder)"


def make_items(n: int, seed: int, n_users: int = 100) -> list[dict[str, Any]]:
    uids = users(n_users)
    return [
        {"text": t, "user_id": uids[i % n_users], "metadata": metadata_for(i)}
        for i, t in enumerate(sentences(n, seed=seed))
    ]


async def one_rep(workdir: str | None, n: int, seed: int, embedder: Any = "hash") -> dict[str, Any]:
    from agentmem_plugins import AsyncMemory

    items = make_items(n, seed)
    embed_alone = None
    if embedder == "hash":  # the ceiling: the embedder alone on the same texts, fresh instance
        from agentmem_plugins.embeddings import HashEmbedder

        with Timer() as te:
            HashEmbedder().embed_documents([i["text"] for i in items])
        embed_alone = n / te.wall
    with temp_store_dir(workdir, "batch") as path:
        memory = AsyncMemory(path=path, embedder=embedder)
        try:
            await memory.add_many([{"text": "warm-up memory", "user_id": "warm"}])
            with Timer() as t:
                ids = await memory.add_many(items)
            assert len(ids) == n
        finally:
            await memory.close()
    return {"throughput": n / t.wall, "cpu_ms_per_1k": 1000 * t.cpu / n * 1000,
            "embed_alone": embed_alone}


def run(quick: bool = False, reps: int | None = None, workdir: str | None = None,
        n: int | None = None) -> list[Result]:
    n = n or (2_000 if quick else 10_000)
    reps = reps or (3 if quick else 5)
    out = []
    for r in range(reps):
        res = asyncio.run(one_rep(workdir, n, seed=100 + r))
        log(f"batch_mode rep {r + 1}/{reps}: {res['throughput']:,.0f} memories/s")
        out.append(res)
    params = {"n": n, "reps": reps, "embedder": "hash (256-d)", "users": 100}
    return [
        Result("batch_mode.throughput", WORKLOAD, "throughput", "memories/s",
               [o["throughput"] for o in out], 30_000, ">=", params),
        Result("batch_mode.cpu_per_1k", WORKLOAD, "process CPU per 1,000 memories", "ms",
               [o["cpu_ms_per_1k"] for o in out], params=params, diagnostic=True),
        Result("batch_mode.embed_alone", WORKLOAD, "hash embedder alone, same texts", "texts/s",
               [o["embed_alone"] for o in out], params=params, diagnostic=True,
               notes="HashEmbedder().embed_documents on the same texts: a ceiling for add_many"),
    ]


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None)
    args = p.parse_args()
    finish(args, run(args.quick, args.reps, args.workdir, args.n))


if __name__ == "__main__":
    main()

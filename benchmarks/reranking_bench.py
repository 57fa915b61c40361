"""Reranking: quality on the retrieval benchmark's questions, and latency.

A real cross-encoder (e.g. ``Xenova/ms-marco-MiniLM-L-6-v2``) cannot be downloaded on
this machine, so the figures are from the project-made tiny cross-encoder
(``agentmem_plugins.testing.tiny_cross_encoder``: word-overlap scoring, no notion of
meaning) run through fastembed's real ``TextCrossEncoder`` path. Its quality figures
show the stage working, not what a trained cross-encoder would add. For latency, a
6-layer, 384-wide BERT run over the same 20 query/candidate pairs (the offline
all-MiniLM-L6-v2 int8 model, the same shape as ms-marco-MiniLM-L-6) stands in for a
real cross-encoder's cost.

    python -m benchmarks.reranking_bench [--quick] [--users 17] [--cache DIR]
"""

# ruff: noqa: E501
from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import Result, base_parser, finish, log
from ._conversations import Dataset, build
from .retrieval_quality import Ranking, _embed_cached, _fused, _rankings, metrics

WORKLOAD = "13. Reranking (cross-encoder stage)"
CANDIDATES = 20


def rerank_rankings(reranker: Any, data: Dataset, rankings: Sequence[Ranking], top: int = CANDIDATES) -> list[Ranking]:
    """Each ranking's first ``top`` re-scored by ``reranker``; the rest keep their order."""
    text = {t.id: t.text for t in data.turns}
    out = []
    for q, ranking in zip(data.questions, rankings, strict=True):
        head, tail = ranking[:top], ranking[top:]
        scores = reranker.rerank(q.text, [text[i] for i, _ in head]) if head else []
        order = sorted(range(len(head)), key=lambda i: scores[i], reverse=True)
        out.append([(head[i][0], scores[i]) for i in order] + tail)
    return out


def run(quick: bool = False, users: int | None = None, workdir: str | None = None, cache: str | None = None) -> list[Result]:
    from agentmem_plugins.embeddings import FastEmbedEmbedder, HashEmbedder
    from agentmem_plugins.models.offline import offline_model_dir
    from agentmem_plugins.rerankers import FastEmbedReranker
    from agentmem_plugins.testing.tiny_cross_encoder import build_tiny_cross_encoder

    data = build(users=users or (6 if quick else 17))
    reranker = FastEmbedReranker(model_path=build_tiny_cross_encoder(Path(tempfile.mkdtemp()) / "ce"))
    minilm = FastEmbedEmbedder(model_path=offline_model_dir(Path(tempfile.mkdtemp()) / "m"))
    cache_dir = Path(cache) if cache else None
    results: list[Result] = []
    for name, embedder in (("minilm", minilm), ("hash", HashEmbedder())):
        qvecs = _embed_cached(embedder, [q.text for q in data.questions], cache_dir, "queries")
        vecs = _embed_cached(embedder, [t.text for t in data.turns], cache_dir, "plain")
        base = asyncio.run(_rankings(workdir, embedder, data, vecs, qvecs, ["vector", "fulltext"]))
        for mode, rankings in (("vector", base["vector"]), ("hybrid", _fused(base["vector"], base["fulltext"]))):
            m = metrics(data.questions, rerank_rankings(reranker, data, rankings))
            log(f"{name:6s} {mode} top {CANDIDATES} reranked (tiny CE): R@5 {m['recall@5']:.3f}  R@10 {m['recall@10']:.3f}  MRR {m['mrr']:.3f}")
            for metric, value in m.items():
                results.append(Result(f"rerank.{name}.{mode}.{metric}", WORKLOAD, f"{mode} + tiny cross-encoder: {metric}", "ratio", [value],
                                      params={"questions": len(data.questions), "candidates": CANDIDATES}, diagnostic=True))
    text = {t.id: t.text for t in data.turns}
    pairs = [(q.text, [text[t.id] for t in data.turns if t.user == q.user][:CANDIDATES]) for q in data.questions[:60]]
    tiny_ms, proxy_ms = [], []
    for query, docs in pairs:
        t0 = time.perf_counter()
        reranker.rerank(query, docs)
        tiny_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        minilm.embed_documents([f"{query} [SEP] {d}" for d in docs])
        proxy_ms.append((time.perf_counter() - t0) * 1000)
    log(f"rerank {CANDIDATES} candidates: tiny cross-encoder {statistics.median(tiny_ms):.1f} ms, "
        f"6-layer MiniLM over the same pairs {statistics.median(proxy_ms):.1f} ms (median)")
    results += [
        Result("rerank.latency_ms.tiny", WORKLOAD, f"rerank {CANDIDATES} candidates, tiny cross-encoder", "ms", tiny_ms, diagnostic=True),
        Result("rerank.latency_ms.minilm_l6_proxy", WORKLOAD, f"{CANDIDATES} pairs through a 6-layer MiniLM (cross-encoder cost)", "ms", proxy_ms, diagnostic=True),
    ]
    return results


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=None)
    p.add_argument("--cache", default=None)
    args = p.parse_args()
    finish(args, run(args.quick, args.users, args.workdir, args.cache))


if __name__ == "__main__":
    main()

"""Retrieval quality on project-written multi-session conversations with gold evidence.

``benchmarks._conversations.build`` writes dated multi-session chats (small talk, facts,
hard negatives about other people, two-turn facts) and >= 1,000 questions with the turns
that answer them. Every turn is stored as a memory of its user (``add_many`` with the
turn id); every question is searched in its user's scope. Reported per mode (vector,
full-text, hybrid, reranked) and embedder (the real all-MiniLM-L6-v2 int8 model and
``hash``): recall@5, recall@10 (share of a question's evidence turns in the top k) and
MRR (1 / rank of the first evidence turn, 0 beyond 50).

Levers, each measured against the same questions:

* full-text tokenizer: stemming, stop words, ASCII folding (``MemoryConfig.fulltext_*``);
* fusion: RRF constant, vector weight, score-normalised fusion (``agentmem_plugins._fusion``),
  computed from the same depth-50 vector and full-text rankings the store returns;
* neighbour context: each turn embedded together with the turn before it (display text
  unchanged, vectors passed to ``add_many``);
Reranked figures: ``benchmarks.reranking_bench`` (same questions and cache).

* dates: each turn embedded with its observation date in words ("On Tuesday 14 January
  2026: ...").

Query and turn vectors are computed once per text variant and cached under ``--cache``.

    python -m benchmarks.retrieval_quality [--quick] [--users 20] [--cache DIR]
"""

# ruff: noqa: E501  (tables of configurations read better on one line)
from __future__ import annotations

import asyncio
import hashlib
import itertools
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentmem_plugins import SearchMode
from agentmem_plugins._fusion import fuse

from ._common import Result, Timer, base_parser, finish, log, temp_store_dir
from ._conversations import Dataset, Question, Turn, build

WORKLOAD = "12. Retrieval quality (multi-session conversations, gold evidence)"
DEPTH = 50

Ranking = list[tuple[str, float]]


def _dated(turn: Turn) -> str:
    return f"On {turn.observed_at:%A %d %B %Y}: {turn.text}"


def text_variants(data: Dataset) -> dict[str, list[str]]:
    """Texts to embed per turn, per lever (the display text is always the turn)."""
    prev: dict[str, str] = {}
    last: dict[tuple[str, int], str] = {}
    for t in data.turns:
        key = (t.user, t.session)
        prev[t.id] = last.get(key, "")
        last[key] = t.text
    return {
        "plain": [t.text for t in data.turns],
        "neighbour": [f"{prev[t.id]}\n{t.text}".strip() for t in data.turns],
        "dated": [_dated(t) for t in data.turns],
    }


def _embed_cached(embedder: Any, texts: list[str], cache: Path | None, tag: str) -> np.ndarray:
    if cache is not None:
        digest = hashlib.sha1("\0".join(texts).encode()).hexdigest()[:12]
        path = cache / f"{embedder.name.replace(':', '_')}-{tag}-{digest}.npy"
        if path.is_file():
            return np.load(path)
    with Timer() as t:
        vectors = embedder.embed_documents(texts)
    log(f"embedded {len(texts)} {tag} texts with {embedder.name} in {t.wall:.1f} s")
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


async def _rankings(
    workdir: str | None,
    embedder: Any,
    data: Dataset,
    vectors: np.ndarray,
    qvecs: np.ndarray,
    modes: Sequence[SearchMode],
    **config: Any,
) -> dict[str, list[Ranking]]:
    """Per mode, per question: the store's depth-50 ranking ``[(turn id, score)]``."""
    from agentmem_plugins import AsyncMemory

    with temp_store_dir(workdir, "retrieval") as path:
        memory = AsyncMemory(path=path, embedder=embedder, **config)
        try:
            await memory.add_many(
                [
                    {"id": t.id, "text": t.text, "user_id": t.user, "vector": v}
                    for t, v in zip(data.turns, vectors, strict=True)
                ]
            )
            async def one(q: Question, qv: np.ndarray, mode: SearchMode) -> Ranking:
                hits = await memory.search(
                    q.text, vector=None if mode == "fulltext" else qv.tolist(), user_id=q.user,
                    limit=DEPTH, mode=mode,
                )
                return [(h.id, float(h.score or 0.0)) for h in hits]

            out: dict[str, list[Ranking]] = {}
            for mode in modes:
                out[mode] = []
                pairs = list(zip(data.questions, qvecs, strict=True))
                for start in range(0, len(pairs), 32):  # a few in flight: the store's threads
                    out[mode] += await asyncio.gather(*(one(q, v, mode) for q, v in pairs[start : start + 32]))
        finally:
            await memory.close()
    return out


def metrics(questions: Sequence[Question], rankings: Sequence[Ranking]) -> dict[str, float]:
    r5, r10, rr = [], [], []
    for q, ranking in zip(questions, rankings, strict=True):
        ids = [i for i, _ in ranking]
        gold = set(q.evidence)
        r5.append(len(gold & set(ids[:5])) / len(gold))
        r10.append(len(gold & set(ids[:10])) / len(gold))
        first = next((n for n, i in enumerate(ids, start=1) if i in gold), None)
        rr.append(1.0 / first if first else 0.0)
    return {"recall@5": statistics.mean(r5), "recall@10": statistics.mean(r10), "mrr": statistics.mean(rr)}


def _by_kind(questions: Sequence[Question], rankings: Sequence[Ranking]) -> dict[str, dict[str, float]]:
    kinds = sorted({q.kind for q in questions})
    return {
        kind: metrics(*zip(*[(q, r) for q, r in zip(questions, rankings, strict=True) if q.kind == kind], strict=True))
        for kind in kinds
    }


def _fused(dense: list[Ranking], sparse: list[Ranking], **kw: Any) -> list[Ranking]:
    return [fuse(d, s, **kw)[:DEPTH] for d, s in zip(dense, sparse, strict=True)]


def run(quick: bool = False, users: int | None = None, workdir: str | None = None,
        cache: str | None = None) -> list[Result]:
    from agentmem_plugins.embeddings import FastEmbedEmbedder, HashEmbedder
    from agentmem_plugins.models.offline import offline_model_dir

    users = users or (6 if quick else 17)
    data = build(users=users)
    log(f"{len(data.turns)} turns, {len(data.questions)} questions, {users} users")
    cache_dir = Path(cache) if cache else None
    model_dir = offline_model_dir(Path(tempfile.mkdtemp(prefix="agentmem-minilm-")) / "m")
    embedders = {"minilm": FastEmbedEmbedder(model_path=model_dir), "hash": HashEmbedder()}
    variants = text_variants(data)
    results: list[Result] = []
    questions = data.questions
    table: dict[tuple[str, str], dict[str, float]] = {}

    def report(emb: str, name: str, rankings: list[Ranking], *, lever: bool = False) -> None:
        m = metrics(questions, rankings)
        table[(emb, name)] = m
        log(f"{emb:6s} {name:42s} R@5 {m['recall@5']:.3f}  R@10 {m['recall@10']:.3f}  MRR {m['mrr']:.3f}")
        for metric, value in m.items():
            results.append(Result(f"quality.{emb}.{name}.{metric}", WORKLOAD, f"{name}: {metric}", "ratio", [value],
                                  params={"embedder": emb, "questions": len(questions), "lever": lever}, diagnostic=True))

    for emb_name, embedder in embedders.items():
        qvecs = _embed_cached(embedder, [q.text for q in questions], cache_dir, "queries")
        vecs = {k: _embed_cached(embedder, v, cache_dir, k) for k, v in variants.items()}
        base = asyncio.run(_rankings(workdir, embedder, data, vecs["plain"], qvecs, ["vector", "fulltext"]))
        dense, sparse = base["vector"], base["fulltext"]
        hybrid = _fused(dense, sparse)  # what search(mode="hybrid") does, at depth 50
        report(emb_name, "vector", dense)
        report(emb_name, "fulltext", sparse)
        report(emb_name, "hybrid (rrf k=60 w=1)", hybrid)
        by_kind = _by_kind(questions, hybrid)
        for kind, m in by_kind.items():
            log(f"{emb_name:6s}   hybrid, {kind:10s} R@5 {m['recall@5']:.3f}  MRR {m['mrr']:.3f}")
        for kind, m in _by_kind(questions, dense).items():
            log(f"{emb_name:6s}   vector, {kind:10s} R@5 {m['recall@5']:.3f}  MRR {m['mrr']:.3f}")
        # fusion levers, on the same two rankings
        for k, w in itertools.product((10, 30, 60, 100), (0.5, 1.0, 1.5, 2.0)):
            report(emb_name, f"fusion rrf k={k} w={w}", _fused(dense, sparse, k=k, vector_weight=w), lever=True)
        for w in (0.5, 1.0, 1.5, 2.0, 3.0):
            report(emb_name, f"fusion score w={w}", _fused(dense, sparse, method="score", vector_weight=w), lever=True)
        # text levers: neighbour context and dates change what is embedded
        for variant in ("neighbour", "dated"):
            got = asyncio.run(_rankings(workdir, embedder, data, vecs[variant], qvecs, ["vector"]))
            report(emb_name, f"vector + {variant}", got["vector"], lever=True)
            report(emb_name, f"hybrid rrf + {variant}", _fused(got["vector"], sparse), lever=True)
            if variant == "dated":
                for kind, m in _by_kind(questions, got["vector"]).items():
                    log(f"{emb_name:6s}   vector+dated, {kind:10s} R@5 {m['recall@5']:.3f}  MRR {m['mrr']:.3f}")
        if emb_name == "hash":
            continue  # the full-text index does not depend on the embedder
        for option in ("fulltext_stem", "fulltext_stop_words", "fulltext_ascii_folding"):
            got = asyncio.run(_rankings(workdir, embedder, data, vecs["plain"], qvecs, ["fulltext"], **{option: False}))
            report(emb_name, f"fulltext, {option}=False", got["fulltext"], lever=True)
            report(emb_name, f"hybrid rrf, {option}=False", _fused(dense, got["fulltext"]), lever=True)
    return results


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=None)
    p.add_argument("--cache", default=None, help="folder for cached vectors")
    args = p.parse_args()
    finish(args, run(args.quick, args.users, args.workdir, args.cache))


if __name__ == "__main__":
    main()

"""Diagnostics for the intelligent-mode benchmark (never used for the headline figures).

``exact-neighbours``: the neighbour-retrieval change proposed for
:meth:`agentmem_plugins.infer.pipeline.InferPipeline._neighbours`, applied as a
monkeypatch so its effect can be measured before the core is changed. Today step 2 runs
one LanceDB vector query plus one SQL fetch per extracted fact (two executor hops each;
~12 facts per coalesced call here), even when the scope holds nothing yet. The patch
reads the scope's valid vectors once from SQL (the exact path ``Searcher`` already uses
for filtered searches on small sets), scores every fact in one matrix product, and
fetches the chosen memories in one query; scopes above ``EXACT_MAX_ROWS`` rows keep the
per-fact ANN path. Same neighbours, same order (top-k per fact, first seen first).

``phases``: wraps the pipeline's awaited steps to report, per step, how many times it
ran and its mean wall time (queueing included), to show where a run spends its time.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import numpy as np

EXPERIMENTS = ("exact-neighbours",)


def apply(name: str) -> Any:
    """Install experiment ``name``; returns a function that removes it."""
    if name != "exact-neighbours":
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    from agentmem_plugins._search import EXACT_MAX_ROWS
    from agentmem_plugins.infer.pipeline import InferPipeline

    original = InferPipeline._neighbours

    async def neighbours(self: Any, vectors: np.ndarray, scope: dict[str, str]) -> list[Any]:
        mem = self  # the pipeline holds the io and stores it was built with
        k = self._cfg.neighbours_per_fact
        ids, matrix = await mem._io(
            mem._stores.records.vectors, scope, None, limit=EXACT_MAX_ROWS + 1
        )
        if matrix is None or not ids:
            return []
        if len(ids) > EXACT_MAX_ROWS:
            return await original(self, vectors, scope)
        q = np.asarray(vectors, dtype=np.float32)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        m = matrix.astype(np.float32)
        m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
        scores = q @ m.T
        order: dict[str, None] = {}
        for row in scores:
            for j in np.argsort(-row, kind="stable")[:k]:
                order.setdefault(ids[j], None)
        items = await mem._io(
            mem._stores.records.fetch, list(order), scope=scope, include_invalidated=False
        )
        return [items[i] for i in order if i in items]

    InferPipeline._neighbours = neighbours  # type: ignore[method-assign]

    def undo() -> None:
        InferPipeline._neighbours = original  # type: ignore[method-assign]

    return undo


class Phases:
    """Count and time the awaited steps of one :class:`AsyncMemory` (see module doc)."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])

    def attach(self, memory: Any) -> None:
        targets = [
            (memory._searcher, "vector", "neighbour search (per fact)"),
            (memory._runner, "documents", "embed facts"),
            (memory._writer, "submit", "apply (write batch)"),
            (memory.llm, "complete", "LLM request"),
        ]
        for obj, name, label in targets:
            fn = getattr(obj, name)

            async def timed(*a: Any, __fn: Any = fn, __label: str = label, **kw: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await __fn(*a, **kw)
                finally:
                    s = self.stats[__label]
                    s[0] += 1
                    s[1] += time.perf_counter() - t

            setattr(obj, name, timed)

    def report(self) -> dict[str, dict[str, float]]:
        return {
            label: {"count": int(n), "mean_ms": round(1000 * t / max(n, 1), 1)}
            for label, (n, t) in self.stats.items()
        }

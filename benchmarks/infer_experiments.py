"""Diagnostics for the intelligent-mode benchmark (never used for the headline figures).

``Phases`` wraps the awaited steps of one :class:`AsyncMemory` to report, per step, how
many times it ran and its mean wall time (queueing included), to show where a run spends
its time.

The ``exact-neighbours`` experiment that lived here (a monkeypatch of
``InferPipeline._neighbours``: one scope read and one matrix product instead of one ANN
query per fact) is gone: the core does that now (``Searcher.scope_vectors`` and
``Searcher.nearest``, used by ``InferPipeline._nearest`` since a667f32), and the method it
patched no longer exists.
"""

from __future__ import annotations

import collections
import time
from typing import Any


class Phases:
    """Count and time the awaited steps of one :class:`AsyncMemory` (see module doc)."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])

    def attach(self, memory: Any) -> None:
        targets = [
            (memory._searcher, "scope_vectors", "read the scope's vectors"),
            (memory._searcher, "nearest", "neighbours of messages and facts"),
            (memory._runner, "documents", "embed messages and facts"),
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

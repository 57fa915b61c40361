"""Workload 3 - the same two workloads through Mem0 2.x, and our ratio over it.

Mem0 (``mem0ai`` from PyPI) with ``infer=False``, the same ``"hash"`` embedder exposed as
LangChain ``Embeddings`` through Mem0's ``langchain`` embedder provider, its default
local Qdrant (on disk, in a temp dir) and its SQLite history. Mem0 insists on an LLM
config even with ``infer=False``: it gets an OpenAI config pointing at a closed local
port, which is never called (any call would fail the run). ``MEM0_TELEMETRY=False`` and
``HF_HUB_OFFLINE=1`` (else Mem0 2.x spends ~40 s retrying to download a BM25 model on
this offline machine; offline it skips BM25 scoring, which only makes Mem0 faster).

* fast mode: ``mem0.AsyncMemory.add`` from 100 concurrent callers. Unserialised
  concurrent calls crash Mem0's local Qdrant (its SQLite persistence is shared across
  threads); this is probed and reported, and the measured figure then serialises the
  calls with a lock: the most Mem0 can do safely with its default store.
* batch mode: Mem0 has no bulk API; ``Memory.add(list of 100 messages, infer=False)``
  (one call per 100 memories) is its batch form.

Memories per rep: the same as our workloads by default (10,000); ``--n`` to change.
Ratio = our throughput / Mem0's, both measured in the same invocation (``run_all``), or
here, when run on its own, our side is measured too at the same sizes.

Mem0 needs its own venv here (its qdrant-client pins an older protobuf than this
project's venv has): ``bash benchmarks/setup_mem0_venv.sh`` creates ``.bench/venv``, and
this module re-runs itself there when ``mem0`` is not importable. Targets: >= 20x.

    python -m benchmarks.mem0_compare [--quick] [--n 10000] [--reps 3]
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._common import ROOT, Result, Timer, base_parser, finish, log, temp_store_dir
from ._texts import metadata_for, sentences, users

WORKLOAD = "3. Mem0 2.x comparison (same workloads, same embedder)"
BENCH_VENV_PYTHON = ROOT / ".bench" / "venv" / "bin" / "python"
CALLERS = 100
CHUNK = 100


def mem0_python() -> str | None:
    """An interpreter that can import mem0: this one, else the benchmark venv's."""
    if importlib.util.find_spec("mem0") is not None:
        return sys.executable
    if BENCH_VENV_PYTHON.exists():
        return str(BENCH_VENV_PYTHON)
    return None


def _env(path: Path) -> None:
    os.environ["MEM0_TELEMETRY"] = "False"
    os.environ["MEM0_DIR"] = str(path / "mem0-home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def mem0_config(path: Path, embeddings: Any) -> dict[str, Any]:
    return {
        "embedder": {"provider": "langchain",
                     "config": {"model": embeddings, "embedding_dims": embeddings.dim}},
        "vector_store": {"provider": "qdrant",
                         "config": {"path": str(path / "qdrant"), "collection_name": "bench",
                                    "embedding_model_dims": embeddings.dim}},
        # required by Mem0's config even with infer=False; never called (closed port)
        "llm": {"provider": "openai",
                "config": {"api_key": "unused", "model": "gpt-4o-mini",
                           "openai_base_url": "http://127.0.0.1:9/v1"}},
        "history_db_path": str(path / "history.db"),
    }


async def _async_memory(cfg: dict[str, Any]) -> Any:
    from mem0 import AsyncMemory

    memory = AsyncMemory.from_config(cfg)
    return await memory if asyncio.iscoroutine(memory) else memory


async def fast_rep(workdir: str | None, per_caller: int, seed: int, serialise: bool) -> float:
    from ._lc_embeddings import hash_embeddings

    texts = sentences(CALLERS * per_caller, seed=seed)
    uids = users(CALLERS)
    with temp_store_dir(workdir, "mem0-fast") as path:
        _env(path)
        memory = await _async_memory(mem0_config(path, hash_embeddings()[0]))
        await memory.add("warm-up memory", user_id="warm", infer=False)
        lock = asyncio.Lock() if serialise else None

        async def caller(c: int) -> None:
            for j in range(per_caller):
                k = c * per_caller + j
                call = memory.add(texts[k], user_id=uids[c], metadata=metadata_for(k), infer=False)
                if lock is None:
                    await call
                else:
                    async with lock:
                        await call

        with Timer() as t:
            await asyncio.gather(*(caller(c) for c in range(CALLERS)))
        _close(memory)
    return CALLERS * per_caller / t.wall


def batch_rep(workdir: str | None, n: int, seed: int) -> float:
    from mem0 import Memory

    from ._lc_embeddings import hash_embeddings

    texts = sentences(n, seed=seed)
    uids = users(100)
    with temp_store_dir(workdir, "mem0-batch") as path:
        _env(path)
        memory = Memory.from_config(mem0_config(path, hash_embeddings()[0]))
        memory.add("warm-up memory", user_id="warm", infer=False)
        with Timer() as t:
            for c, lo in enumerate(range(0, n, CHUNK)):
                msgs = [{"role": "user", "content": x} for x in texts[lo:lo + CHUNK]]
                out = memory.add(msgs, user_id=uids[c % 100], metadata=metadata_for(c), infer=False)
                assert len(out["results"]) == len(msgs), out
        _close(memory)
    return n / t.wall


def _close(memory: Any) -> None:
    client = getattr(getattr(memory, "vector_store", None), "client", None)
    if client is not None and hasattr(client, "close"):
        with contextlib.suppress(Exception):
            client.close()


def probe_concurrency(workdir: str | None) -> str | None:
    """Do unserialised concurrent adds work with Mem0's local Qdrant? ``None`` if so."""
    try:
        asyncio.run(fast_rep(workdir, 2, seed=9, serialise=False))
        return None
    except Exception as exc:  # the failure is the finding
        return f"{type(exc).__name__}: {exc}"[:300]


def run_mem0(quick: bool, reps: int | None, workdir: str | None, n: int | None) -> list[Result]:
    """The Mem0 side (needs mem0 importable)."""
    import logging
    from importlib.metadata import version

    logging.getLogger("mem0").setLevel(logging.ERROR)
    try:
        from loguru import logger

        logger.disable("fastembed")  # the (expected) BM25 model miss, logged as an error
    except ImportError:
        pass
    n = n or (500 if quick else 10_000)
    reps = reps or (2 if quick else 3)
    per_caller = max(1, n // CALLERS)
    crash = probe_concurrency(workdir)
    serialise = crash is not None
    log(f"mem0: unserialised concurrent add {'CRASHES: ' + crash if crash else 'works'}")
    fast, batch = [], []
    for r in range(reps):
        fast.append(asyncio.run(fast_rep(workdir, per_caller, seed=r, serialise=serialise)))
        batch.append(batch_rep(workdir, n, seed=100 + r))
        log(f"mem0 rep {r + 1}/{reps}: fast {fast[-1]:,.0f}/s, batch {batch[-1]:,.0f}/s")
    from ._lc_embeddings import hash_embeddings

    params = {"mem0ai": version("mem0ai"), "qdrant-client": version("qdrant-client"),
              "memories_per_rep": CALLERS * per_caller, "batch_n": n, "reps": reps,
              "embedder": hash_embeddings()[1], "vector_store": "qdrant local (path)",
              "concurrent_calls_serialised": serialise, "unserialised_concurrency": crash or "ok"}
    return [
        Result("mem0.fast_mode", WORKLOAD, "Mem0 fast mode (100 callers of add)", "memories/s",
               fast, params=params, diagnostic=True,
               notes=("calls serialised by a lock: unserialised they crash (" + crash + ")")
               if crash else "unserialised"),
        Result("mem0.batch_mode", WORKLOAD, "Mem0 batch (add of 100-message lists)",
               "memories/s", batch, params=params, diagnostic=True),
    ]


def run_mem0_anywhere(quick: bool, reps: int | None, workdir: str | None, n: int | None
                      ) -> tuple[list[Result], str | None]:
    """Run the Mem0 side here or in the benchmark venv; ``(results, why not run)``."""
    python = mem0_python()
    if python is None:
        return [], ("mem0ai is not installed here and .bench/venv does not exist: "
                    "run `bash benchmarks/setup_mem0_venv.sh`")
    if python == sys.executable:
        return run_mem0(quick, reps, workdir, n), None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mem0.json"
        cmd = [python, "-m", "benchmarks.mem0_compare", "--mem0-only", "--json", str(out)]
        cmd += ["--quick"] if quick else []
        cmd += ["--reps", str(reps)] if reps else []
        cmd += ["--workdir", workdir] if workdir else []
        cmd += ["--n", str(n)] if n else []
        log(f"mem0: running in {python}")
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=None, text=True)
        if proc.returncode != 0 or not out.exists():
            return [], f"the Mem0 run failed (exit {proc.returncode}); see stderr above"
        payload = json.loads(out.read_text())
    results = []
    for d in payload["results"]:
        d = {k: v for k, v in d.items() if k in Result.__dataclass_fields__}
        results.append(Result(**d))
    return results, None


def ratios(ours: list[Result], mem0: list[Result]) -> list[Result]:
    by_id = {r.id: r for r in ours + mem0}
    out = []
    pairs = (("fast_mode", "fast_mode.throughput"), ("batch_mode", "batch_mode.throughput"))
    for mode, ours_id in pairs:
        a, b = by_id.get(ours_id), by_id.get(f"mem0.{mode}")
        if a is None or b is None or not a.median or not b.median:
            continue
        out.append(Result(
            f"mem0.ratio.{mode}", WORKLOAD, f"ours / Mem0, {mode.replace('_', ' ')}", "x",
            [a.median / b.median], 20, ">=",
            {"ours_median": a.median, "mem0_median": b.median, **b.params},
            notes="ratio of the two medians measured in this invocation",
        ))
    return out


def run(quick: bool = False, reps: int | None = None, workdir: str | None = None,
        n: int | None = None, ours: list[Result] | None = None) -> list[Result]:
    mem0, why = run_mem0_anywhere(quick, reps, workdir, n)
    if why:
        log(f"mem0: NOT RUN: {why}")
        return [Result("mem0.not_run", WORKLOAD, "Mem0 comparison not run", "", [],
                       notes=why, diagnostic=True)]
    if ours is None:  # standalone: measure our side at the same sizes
        from . import batch_mode, fast_mode

        size = n or (500 if quick else 10_000)
        ours = fast_mode.run(quick, reps, workdir, per_caller=max(1, size // CALLERS))
        ours += batch_mode.run(quick, reps, workdir, n=size)
    return mem0 + ratios(ours, mem0)


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None, help="memories per rep (default 10,000)")
    p.add_argument("--mem0-only", action="store_true", help="only the Mem0 side (internal)")
    args = p.parse_args()
    if args.mem0_only:
        results = run_mem0(args.quick, args.reps, args.workdir, args.n)
        finish(args, results)
        return
    results = run(args.quick, args.reps, args.workdir, args.n)
    finish(args, results)


if __name__ == "__main__":
    main()

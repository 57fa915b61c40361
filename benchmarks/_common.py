"""Shared helpers: results, timing, medians, store inspection, argument parsing."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    """One reported figure: the median of ``values`` (one value per repetition)."""

    id: str
    workload: str
    metric: str
    unit: str
    values: list[float]
    target: float | None = None
    direction: str | None = None  # ">=" or "<=" (what passing means)
    params: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    diagnostic: bool = False  # extra figure for the reader, not a pass/fail target

    @property
    def median(self) -> float | None:
        vals = [v for v in self.values if v is not None]
        return statistics.median(vals) if vals else None

    @property
    def passed(self) -> bool | None:
        m = self.median
        if self.target is None or self.direction is None:
            return None
        if m is None:  # a target with no figure (e.g. every search failed) is a miss
            return False
        return m >= self.target if self.direction == ">=" else m <= self.target

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["median"] = self.median
        d["passed"] = self.passed
        if len(self.values) > 1:
            d["min"], d["max"] = min(self.values), max(self.values)
        return d


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


class Timer:
    """Wall-clock and process CPU time of a block."""

    def __enter__(self) -> Timer:
        self._t0 = time.perf_counter()
        self._c0 = _cpu()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = _cpu() - self._c0


#: searches are timed after this long of untimed searches: a long-running service's
#: steady state (caches filled, the index's address map built in the background)
WARMUP_S = 3.0


async def warm_up(search: Any, questions: list[str], seconds: float = WARMUP_S) -> int:
    """Run ``await search(q)`` over ``questions`` (cycling) for ``seconds``, at least 10
    searches; returns how many ran."""
    import time

    start, n = time.perf_counter(), 0
    while n < 10 or time.perf_counter() - start < seconds:
        await search(questions[n % len(questions)])
        n += 1
    return n


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


@contextlib.contextmanager
def temp_store_dir(base: str | None, prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"agentmem-bench-{prefix}-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, f))
    return total


def lance_table_info(store_path: Path) -> dict[str, Any]:
    """Fragments, versions, indexes and unindexed rows of a store's LanceDB table."""
    import lancedb

    info: dict[str, Any] = {}
    db = lancedb.connect(str(store_path / "lancedb"))
    if "memories" not in db.list_tables().tables:
        return {"exists": False}
    table = db.open_table("memories")
    # LanceDB 0.40 annotates stats() as the TableStatistics dataclass but returns a dict
    raw: Any = table.stats()
    stats: dict[str, Any] = raw if isinstance(raw, dict) else asdict(raw)
    frag = stats.get("fragment_stats", {})
    info["rows"] = stats.get("num_rows")
    info["fragments"] = frag.get("num_fragments")
    info["small_fragments"] = frag.get("num_small_fragments")
    info["versions"] = len(table.list_versions())
    info["indices"] = []
    for ix in table.list_indices():
        entry: dict[str, Any] = {
            "name": ix.name,
            "type": str(ix.index_type),
            "columns": list(ix.columns),
        }
        with contextlib.suppress(Exception):
            st = table.index_stats(ix.name)
            entry["num_indexed_rows"] = getattr(st, "num_indexed_rows", None)
            entry["num_unindexed_rows"] = getattr(st, "num_unindexed_rows", None)
        info["indices"].append(entry)
    info["lance_bytes"] = dir_size(store_path / "lancedb")
    info["sqlite_bytes"] = sum(
        dir_size(p) if p.is_dir() else p.stat().st_size for p in store_path.glob("memories.db*")
    )
    return info


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg": os.getloadavg(),
    }
    with contextlib.suppress(Exception):
        env["cpu_model"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    with contextlib.suppress(Exception):
        env["mem_total_gb"] = round(
            int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1
        )
    with contextlib.suppress(Exception):
        env["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("lancedb", "pylance", "pyarrow", "numpy", "SQLAlchemy", "fastembed",
                "onnxruntime", "mem0ai", "qdrant-client"):
        with contextlib.suppress(PackageNotFoundError):
            env[pkg] = version(pkg)
    return env


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not figures")
    p.add_argument("--reps", type=int, default=None, help="repetitions (median reported)")
    p.add_argument("--workdir", default=None, help="where temporary stores go (default: $TMPDIR)")
    p.add_argument("--json", default=None, help="also write the results here as JSON")
    return p


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if unit in ("memories/s", "rows/s", "texts/s"):
        return f"{value:,.0f}"
    if unit == "x" or unit == "ratio":
        return f"{value:.2f}"
    if unit in ("ms",):
        return f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    if unit in ("MB", "MiB", "GB"):
        return f"{value:,.1f}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def print_results(results: list[Result]) -> None:
    for r in results:
        status = {True: "PASS", False: "MISS", None: ""}[r.passed]
        target = f"{r.direction} {fmt(r.target, r.unit)}" if r.target is not None else ""
        vals = ", ".join(fmt(v, r.unit) for v in r.values)
        print(f"{r.id:40s} {fmt(r.median, r.unit):>12s} {r.unit:12s} {target:14s} "
              f"{status:4s} [{vals}]")


def write_json(
    path: str | Path, results: list[Result], extra: dict[str, Any] | None = None
) -> None:
    payload = {"environment": environment(), "results": [r.to_dict() for r in results]}
    if extra:
        payload.update(extra)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, default=str))


def finish(args: argparse.Namespace, results: list[Result]) -> None:
    print_results(results)
    if args.json:
        write_json(args.json, results)

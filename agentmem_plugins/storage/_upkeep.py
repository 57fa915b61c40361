"""Upkeep of the LanceDB table: compaction, index deltas, and when to (re)train the ANN index.

One implementation, run either in-process (small tables, where it takes milliseconds) or
in the index worker process (:mod:`._index_worker`) once the table is large enough for
an ANN index, because there it takes seconds to minutes and, in-process, would stall
every append (see that module for the measurement).

Retrain policy. ``optimize()`` folds new rows into the ANN index as *delta* segments,
assigned to the centroids trained on the first rows; each segment is searched on every
query, and partitions sized for 50k rows are far too big at 1M. So the index is rebuilt
(a fresh training, partitions sized for the current row count) when the table has grown
``RETRAIN_GROWTH`` times past the rows it was trained on. The trained row count lives in
the index's name (``vector_ann_<rows>``), so any process (and a reopen) sees it. The new
index is committed beside the old one and the old one is dropped afterwards: a search
always has a complete index, and uses the new one as soon as it is committed.
"""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import timedelta
from typing import Any

from .._validation import SCOPE_FIELDS

__all__ = ["ANN_PREFIX", "ann_partitions", "ann_probes", "search_params", "trained_rows", "upkeep"]

log = logging.getLogger("agentmem_plugins")

SCOPE_COLUMNS = SCOPE_FIELDS
ANN_PREFIX = "vector_ann_"
#: rebuild the ANN index once the table holds this many times the rows it was trained on
RETRAIN_GROWTH = 2.0
#: IVF_SQ partition size. A search probes ``PROBES_PER_ROOT * sqrt(partitions)`` of them
#: and re-scores the candidates exactly on their full vectors (``VectorIndex._search_ann``,
#: no LanceDB ``refine_factor``: same recall, measured). The share of partitions a given
#: recall needs falls as the index grows, so a fixed share over-probes large tables.
#: Measured on hash-embedded sentences (one scope, 200 questions, recall@10 vs exact):
#: 100k rows, 75 partitions: 8 / 12 / 16 / 24 probes 0.855 / 0.918 / 0.952 / 0.982;
#: 1M rows, 602 partitions: 31 / 61 / 151 probes 0.965 / 0.990 / 1.000 at p50 21 / 32 /
#: 51 ms (BENCHMARKS.md, issue 14). 2 * sqrt gives 17 probes at 72 partitions and 50 at
#: 602. IVF_HNSW_SQ topped out at 0.895 (ef 512) and took 548 s to build where IVF_SQ
#: took 11 s.
ROWS_PER_PARTITION = 1_600
PROBES_PER_ROOT = 2.0
_ANN_NAME = re.compile(re.escape(ANN_PREFIX) + r"(\d+)$")


def ann_partitions(rows: int) -> int:
    """IVF partitions for an index trained on ``rows`` rows."""
    return max(1, min(round(rows / ROWS_PER_PARTITION), 4096))


def ann_probes(trained: int) -> int:
    """IVF partitions a search probes in the index trained on ``trained`` rows."""
    partitions = ann_partitions(trained)
    return min(partitions, math.ceil(PROBES_PER_ROOT * math.sqrt(partitions)))


def search_params(query: Any, k: int, *, trained: int, ef: int) -> Any:
    """ANN search parameters for ``k`` results from the index trained on ``trained`` rows
    (0: an index of unknown origin, i.e. the IVF_HNSW_SQ of older versions, until the
    next upkeep retrains it)."""
    if trained == 0:  # LanceDB's HNSW needs ef >= k * refine_factor
        return query.ef(max(ef, 2 * k)).refine_factor(2)
    return query.nprobes(ann_probes(trained))


def trained_rows(name: str) -> int:
    """Rows an ANN index was trained on, from its name; 0 for an index of unknown origin
    (built before names carried it), which makes the next upkeep retrain it."""
    match = _ANN_NAME.match(name)
    return int(match.group(1)) if match else 0


def _vector_indexes(table: Any) -> list[str]:
    return [ix.name for ix in table.list_indices() if list(ix.columns) == ["vector"]]


def _with_retry(commit: Any, attempts: int = 8) -> Any:
    """Retry a commit that lost a race with another writer (each attempt is atomic)."""
    for attempt in range(attempts):
        try:
            return commit()
        except Exception as exc:
            if "conflict" not in str(exc).lower() or attempt == attempts - 1:
                raise
            log.info("index upkeep commit conflicted; retrying (%s)", exc)
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def upkeep(
    table: Any, *, ann_min_rows: int, cleanup_older_than: timedelta
) -> dict[str, Any]:
    """Compact, fold new rows into the indexes, drop old versions; build the ANN index
    once the table has ``ann_min_rows`` rows and retrain it per the policy above.
    Returns what it did (for logs and benchmarks)."""
    started = time.perf_counter()
    report: dict[str, Any] = {"rows": table.count_rows(), "built": None}
    _with_retry(lambda: table.optimize(cleanup_older_than=cleanup_older_than))
    rows = table.count_rows()
    current = _vector_indexes(table)
    trained = max((trained_rows(n) for n in current), default=0)
    if rows >= ann_min_rows and (not current or rows >= RETRAIN_GROWTH * trained):
        _build_ann(table, rows, replacing=current)
        report["built"] = {"rows": rows, "partitions": ann_partitions(rows), "replaced": current}
    report["seconds"] = round(time.perf_counter() - started, 3)
    return report


def _build_ann(table: Any, rows: int, *, replacing: list[str]) -> None:
    from lancedb.index import Bitmap, IvfSq

    indexed = {tuple(ix.columns) for ix in table.list_indices()}
    for column in SCOPE_COLUMNS:
        if (column,) not in indexed:
            _with_retry(lambda c=column: table.create_index(c, config=Bitmap(), replace=True))
    partitions = ann_partitions(rows)
    name = f"{ANN_PREFIX}{rows}"
    log.info("training the ANN index over %d rows (%d partitions)", rows, partitions)
    config = IvfSq(distance_type="cosine", num_partitions=partitions)
    _with_retry(lambda: table.create_index("vector", config=config, name=name, replace=True))
    for old in replacing:
        if old != name:
            _with_retry(lambda o=old: table.drop_index(o))

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

What ``optimize()`` does to an IVF index (LanceDB 0.40, measured on 120k hash-embedded
sentences, issue 14 round 4): any optimize that has work to do (new rows to fold in, or
only fragments to compact) leaves the index with far fewer partitions than it was
trained with (75 -> 19-26, 50 -> 13-18, 225 or 400 -> 4, whatever
``target_partition_size``; even an optimize with nothing to fold, right after the
build, so upkeep skips ``optimize()`` when it has nothing to do), each one
correspondingly larger, so every probe scans 3x or more rows: a search at the same
recall costs ~2x (12 of 23 probes 0.969 at 6.4 ms vs 16 of 75 probes 0.957 at 4.8 ms,
fresh). The partition count is read back from a query
plan (:func:`index_partitions`). On a larger table ``optimize()`` may instead add the
new rows as another index segment (a 1M-row run ended with 4 segments, 548 partitions
in all, trained on 533k rows: every segment is searched). An index that is *worn*,
collapsed to under ``COLLAPSED_SHARE`` of its trained partitions, in more than one
segment, or trained on fewer rows than the table holds by ``STALE_GROWTH``, is
retrained as soon as the table is quiet (it grew by less than ``QUIET_GROWTH`` since the
end of the previous upkeep: retraining during a bulk ingest would be undone by the next
fold), and then at most once per ``REBUILD_COOLDOWN`` times
the previous such rebuild's duration, so a store under a steady trickle of writes spends
at most a quarter of one (niced) worker core on it; unless the index is missing
``REBUILD_GROWTH`` of the rows it was trained on (a bulk load just ended: rebuilt at once,
measured in the 1M run, where the cooldown of a rebuild during the ingest had left the
final index collapsed, 190 of 585 partitions).
"""

from __future__ import annotations

import functools
import logging
import math
import random
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np

from .._validation import SCOPE_FIELDS

__all__ = [
    "ANN_PREFIX",
    "ann_partitions",
    "ann_probes",
    "index_partitions",
    "lost_commit_race",
    "retry_lost_race",
    "search_params",
    "trained_rows",
    "upkeep",
]

log = logging.getLogger("agentmem_plugins")
T = TypeVar("T")

SCOPE_COLUMNS = SCOPE_FIELDS
ANN_PREFIX = "vector_ann_"
#: rebuild the ANN index once the table holds this many times the rows it was trained on
RETRAIN_GROWTH = 2.0
#: IVF_SQ partition size. A search probes ``PROBES_PER_ROOT * sqrt(partitions)`` of them
#: and re-scores the candidates exactly on their full vectors (``VectorIndex._search_ann``,
#: no LanceDB ``refine_factor``: same recall, measured). The share of partitions a given
#: recall needs falls as the index grows, so a fixed share over-probes large tables.
#: Measured on hash-embedded sentences (one scope, 200 questions, recall@10 vs exact) on
#: freshly trained indexes (BENCHMARKS.md, issue 14 round 4): 120k rows, 75 partitions:
#: 8 / 12 / 15 / 18 probes 0.877 / 0.940 / 0.964 / 0.977, p50 7.2-8.7 ms whatever the
#: count; 1M rows, 639 partitions: 20 / 32 / 51 probes 0.879 / 0.934 / 0.967 at p50
#: 11.3 / 12.6 / 14.5 ms. 2 * sqrt gives 18 probes at 75 partitions and 51 at 639.
#: (Round 3's figures were taken on indexes ``optimize()`` had collapsed, see above.)
#: IVF_HNSW_SQ topped out at 0.895 (ef 512) and took 548 s to build where IVF_SQ took
#: 11 s.
ROWS_PER_PARTITION = 1_600
PROBES_PER_ROOT = 2.0
_ANN_NAME = re.compile(re.escape(ANN_PREFIX) + r"(\d+)$")
COLLAPSED_SHARE = 0.6
QUIET_GROWTH = 0.01
REBUILD_COOLDOWN = 3.0
REBUILD_GROWTH = 0.05
#: an index trained on fewer rows than the table holds by this factor is worn too: the
#: doubling rule alone left a 1M-row table searched through an index trained on 534k
#: rows (37 probes of ~3,000-row partitions: p50 25.7 ms, where a fresh index took 16-18)
STALE_GROWTH = 1.25
#: upkeep that left work (a worn index on a table not yet quiet, rows written while it
#: ran): the writer runs it again this much later if nothing is written meanwhile (an
#: idle store would otherwise keep it until its next writes)
QUIET_RECHECK_S = 2.0
#: per table (uri): rows at the end of the previous upkeep in this process
_last_seen: dict[str, int] = {}
#: per table (uri): when the next collapse rebuild may start (this process's clock)
_next_rebuild: dict[str, float] = {}
_RANKED = re.compile(r"partitions_ranked=([\d.]+)\s*([KM]?)")


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


def index_partitions(table: Any) -> int | None:
    """IVF partitions the table's ANN index really has (summed over its delta segments),
    from the metrics of a one-probe query plan; ``None`` when the plan does not say (no
    index, or a LanceDB release that words its metrics differently: then only the growth
    rule retrains)."""
    from lancedb.background_loop import LOOP

    dim = table.schema.field("vector").type.list_size
    query = (
        table._table.query()  # the AsyncTable behind the sync handle
        .nearest_to(np.ones(dim, dtype=np.float32))
        .column("vector")
        .distance_type("cosine")
        .limit(1)
        .select(["id", "_distance"])
        .nprobes(1)
    )
    plan = str(LOOP.run(query.analyze_plan()))  # type: ignore[no-untyped-call]
    found = _RANKED.findall(plan)
    if not found:
        return None
    scale = {"": 1, "K": 1_000, "M": 1_000_000}
    return round(sum(float(n) * scale[unit] for n, unit in found))


def _has_work(table: Any) -> bool:
    """Whether ``optimize()`` is due: always before there is an ANN index; with one, when
    some index does not cover every row yet (new rows; compaction of their fragments and
    old-version cleanup ride along). An optimize with nothing to fold still rewrites the
    ANN index and collapses it (see above), so an idle store's upkeep would otherwise
    retrain it over and over. Deleted rows alone wait for the next fold to be compacted."""
    return not _vector_indexes(table) or _unindexed(table)


def _unindexed(table: Any) -> bool:
    """Whether some index does not cover every row yet."""
    return any(table.index_stats(ix.name).num_unindexed_rows for ix in table.list_indices())


def _vector_indexes(table: Any) -> list[str]:
    return [ix.name for ix in table.list_indices() if list(ix.columns) == ["vector"]]


def lost_commit_race(exc: BaseException) -> bool:
    """Whether a LanceDB commit failed because another commit won; retrying is safe (a
    failed commit wrote nothing). LanceDB says "conflict" or "preempted", or, once its own
    retries have run out, "Too many concurrent writers": the index worker met that during
    a 1M-row ingest, when a build's commit lost to the appends for 30 s (issue 14)."""
    text = str(exc).lower()
    return any(w in text for w in ("conflict", "preempted", "too many concurrent writers"))


def retry_lost_race(
    commit: Callable[[], T],
    *,
    first_wait_s: float = 0.01,
    max_wait_s: float = 0.5,
    attempts: int = 8,
) -> T:
    """Run ``commit`` again while it fails only because another commit won
    (:func:`lost_commit_race`); a failed commit wrote nothing, so a retry cannot duplicate
    rows, and LanceDB does not retry deletes by itself (lancedb#1597). The waits double
    from ``first_wait_s`` up to ``max_wait_s``, jittered by half either way. The defaults
    suit the write path; index upkeep waits longer (:func:`_with_retry`)."""
    for attempt in range(attempts):
        try:
            return commit()
        except Exception as exc:
            if not lost_commit_race(exc) or attempt == attempts - 1:
                raise
            log.info("LanceDB commit lost a race with another commit; retrying (%s)", exc)
            time.sleep(random.uniform(0.5, 1.5) * min(first_wait_s * 2**attempt, max_wait_s))
    raise AssertionError("unreachable")


def _with_retry(commit: Callable[[], T]) -> T:
    """Index upkeep's commits: up to 12.7 s of waits in all (a build's commit lost to a
    1M-row ingest's appends for 30 s, issue 14)."""
    return retry_lost_race(commit, first_wait_s=0.05, max_wait_s=6.4)


def upkeep(table: Any, *, ann_min_rows: int, cleanup_older_than: timedelta) -> dict[str, Any]:
    """Compact, fold new rows into the indexes, drop old versions; build the ANN index
    once the table has ``ann_min_rows`` rows and retrain it per the policy above.
    Returns what it did (for logs and benchmarks), with ``again_s``: seconds after which
    another upkeep has work it left (a worn index to retrain once the table is quiet,
    rows written meanwhile to fold in; ``None``: nothing left)."""
    started = time.perf_counter()
    report: dict[str, Any] = {
        "rows": table.count_rows(),
        "built": None,
        "table": str(getattr(table, "uri", table.name)),
    }
    if _has_work(table):  # else leave a fresh ANN index fresh (see above)
        _with_retry(lambda: table.optimize(cleanup_older_than=cleanup_older_than))
    rows = table.count_rows()
    current = _vector_indexes(table)
    trained = max((trained_rows(n) for n in current), default=0)
    reason, key, again = None, report["table"], None
    if rows >= ann_min_rows and (not current or rows >= RETRAIN_GROWTH * trained):
        reason = "growth"
    elif current and trained and ann_partitions(trained) > 1:
        found = index_partitions(table)
        segments = table.index_stats(max(current, key=trained_rows)).num_indices
        report["partitions_found"], report["index_segments"] = found, segments
        worn = (
            segments > 1
            or (found is not None and found < COLLAPSED_SHARE * ann_partitions(trained))
            or rows >= STALE_GROWTH * trained  # partitions sized for far fewer rows
        )
        seen = _last_seen.get(key)
        quiet = seen is not None and rows - seen < QUIET_GROWTH * rows
        due = time.monotonic() >= _next_rebuild.get(key, 0.0)
        if worn and quiet and (due or rows - trained >= REBUILD_GROWTH * trained):
            reason = "worn"
        elif worn:
            again = QUIET_RECHECK_S if not quiet else _next_rebuild[key] - time.monotonic()
    if reason is not None:
        build_started = time.monotonic()
        _build_ann(table, rows, replacing=current)
        if reason == "worn":
            took = time.monotonic() - build_started
            _next_rebuild[key] = time.monotonic() + REBUILD_COOLDOWN * took
        report["built"] = {
            "rows": rows,
            "partitions": ann_partitions(rows),
            "replaced": current,
            "reason": reason,
        }
    _last_seen[key] = table.count_rows()
    if again is None and _vector_indexes(table) and _unindexed(table):
        again = QUIET_RECHECK_S  # rows written during this upkeep: fold them in soon
    report["again_s"] = None if again is None else round(max(again, QUIET_RECHECK_S), 3)
    report["seconds"] = round(time.perf_counter() - started, 3)
    return report


def _build_ann(table: Any, rows: int, *, replacing: list[str]) -> None:
    from lancedb.index import Bitmap, IvfSq

    indexed = {tuple(ix.columns) for ix in table.list_indices()}
    for column in SCOPE_COLUMNS:
        if (column,) not in indexed:
            _with_retry(
                functools.partial(table.create_index, column, config=Bitmap(), replace=True)
            )
    partitions = ann_partitions(rows)
    name = f"{ANN_PREFIX}{rows}"
    log.info("training the ANN index over %d rows (%d partitions)", rows, partitions)
    config = IvfSq(distance_type="cosine", num_partitions=partitions)
    _with_retry(lambda: table.create_index("vector", config=config, name=name, replace=True))
    for old in replacing:
        if old != name:
            _with_retry(functools.partial(table.drop_index, old))

"""``VectorIndex``: the LanceDB side, vectors plus a full-text index over the text.

Blocking by design (called from worker threads). Rows are written in batches only; a
one-row append costs milliseconds and a fragment. Maintenance (compaction, index
upkeep, old-version cleanup, the ANN index once the table is large enough) runs in the
background between batches; see :meth:`maintain`. The search half is
:mod:`._vector_search`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import timedelta
from typing import Any

import numpy as np

from ._changes import Changes
from ._index_worker import IndexWorker
from ._owner import OWNER_KEY, check_owner
from ._row_ids import RowIds
from ._upkeep import lost_commit_race, retry_lost_race, trained_rows, upkeep
from ._vector_search import VectorSearch, VectorsOf, sql_literal

__all__ = ["VectorIndex", "sql_literal"]

log = logging.getLogger("agentmem_plugins")
TABLE = "memories"
_DELETE_CHUNK = 2000
# upkeep of a table this large runs in the index worker: in-process, a compaction of
# ~10k+ rows stalls appends for a noticeable time (same CPU pool as an index build)
WORKER_MIN_ROWS = 10_000


def _log_prewarm(done: Future[Any]) -> None:
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.info("could not prewarm the ANN index (%s)", exc)


def _ids_where(ids: Sequence[str]) -> str:
    return "id IN (" + ", ".join(sql_literal(i) for i in ids) + ")"


class VectorIndex(VectorSearch):
    def __init__(
        self,
        uri: str,
        *,
        ann_min_rows: int,
        ann_ef: int,
        storage_options: dict[str, str] | None = None,
        fts_options: dict[str, Any] | None = None,
        vectors_of: VectorsOf,
        read_consistency: timedelta = timedelta(0),
    ):
        import lancedb  # imported here: ~1.5 s, and only a store needs it

        # timedelta(0), strong read consistency: a handle sees every commit (other handles,
        # background maintenance, other processes) at the price of one manifest check per
        # read, a round trip on object storage; a longer interval bounds the staleness.
        self._db = lancedb.connect(
            uri, storage_options=storage_options, read_consistency_interval=read_consistency
        )
        self._vectors_of = vectors_of  # candidates' vectors and scope, from the records
        self._ann_min_rows = ann_min_rows
        self._ann_ef = ann_ef
        self._fts_options = dict(fts_options or {})  # lancedb.index.FTS keyword arguments
        self._worker = IndexWorker(uri, storage_options)  # upkeep of large tables
        self._row_ids = RowIds(self._scan_row_ids, self.count)  # ids by row address
        self._lock = threading.Lock()  # guards handle swaps and index creation
        self._table: Any = None
        self._needs_prefilter: set[str] = set()  # scopes a postfilter cannot serve
        self._has_ann = False
        self._ann_names: list[str] = []  # the ANN index (two while a rebuild replaces one)
        self._warmed: set[str] = set()  # ANN indexes asked into LanceDB's cache (_prewarm)
        self._ann_trained = 0
        self._has_fts = False
        self._store_id: str | None = None  # stamped on a table made here (bind)
        self._uri = uri
        if self._exists():
            self._open()

    # --- table handle ------------------------------------------------------------------

    def _exists(self) -> bool:
        return TABLE in self._db.list_tables().tables

    def _handle(self) -> Any:
        """The table, opened late if another process created it after this one started."""
        if self._table is None:
            with self._lock:
                if self._table is None and self._exists():
                    self._open()
        return self._table

    def _open(self) -> None:
        table = self._db.open_table(TABLE)
        listed = table.list_indices()
        indices = {tuple(ix.columns): ix.index_type for ix in listed}
        self._has_ann = ("vector",) in indices
        self._ann_names = [ix.name for ix in listed if ix.columns == ["vector"]]
        self._ann_trained = max((trained_rows(n) for n in self._ann_names), default=0)
        self._has_fts = ("text",) in indices
        self._needs_prefilter = set()
        self._table = table

    def bind(self, store_id: str) -> None:
        """This index serves the store ``store_id``: a table made by another store is
        refused (:func:`check_owner`); one made from now on is stamped."""
        self._store_id = store_id
        table = self._handle()
        if table is not None:
            owner = (table.schema.metadata or {}).get(OWNER_KEY.encode())
            where = f"the LanceDB table at {self._uri}"
            check_owner(owner.decode() if owner else None, store_id, where)

    @property
    def dim(self) -> int | None:
        if self._table is None:
            return None
        size: int = self._table.schema.field("vector").type.list_size
        return size

    def ensure(self, dim: int) -> None:
        with self._lock:
            if self._table is not None:
                return
            if self._exists():  # created by another process meanwhile
                self._open()
                return
            import pyarrow as pa

            schema = pa.schema(
                [
                    pa.field("id", pa.string(), nullable=False),
                    pa.field("text", pa.string()),
                    pa.field("user_id", pa.string()),
                    pa.field("agent_id", pa.string()),
                    pa.field("run_id", pa.string()),
                    pa.field("rev", pa.string()),
                    pa.field("vector", pa.list_(pa.float32(), dim)),
                ],
                metadata={OWNER_KEY: self._store_id} if self._store_id else None,
            )
            self._table = self._db.create_table(TABLE, schema=schema, exist_ok=True)

    def count(self) -> int:
        table = self._handle()
        return 0 if table is None else int(table.count_rows())

    def _scan_row_ids(self, first: int | None) -> Any:
        """``id`` and ``_rowid`` of every row at or past address ``first`` (for ``_row_ids``;
        a filter on ``_rowid`` reads only the fragments it can match)."""
        import pyarrow as pa

        table = self._handle()
        if table is None:
            return pa.table({"id": pa.array([], pa.string()), "_rowid": pa.array([], pa.uint64())})
        query = table.search().select(["id"]).with_row_id(True).limit(None)
        if first is not None:
            query = query.where(f"_rowid >= {int(first)}")
        return query.to_arrow()

    # --- writes ------------------------------------------------------------------------

    def apply(self, changes: Changes) -> None:
        """New ids are appended (the SQL primary key made them new, nobody else writes them);
        replaced ids are upserted keyed on id in one commit; deleted ids deleted."""
        if changes.delete_ids:
            self.delete(changes.delete_ids)
        if not changes.rows:
            return
        replaced = set(changes.replace_ids)
        if not replaced:
            self.add(changes.rows, changes.vectors)
            return
        vectors = changes.vectors
        fresh = [n for n, r in enumerate(changes.rows) if r["id"] not in replaced]
        kept = [n for n, r in enumerate(changes.rows) if r["id"] in replaced]
        if fresh:
            self.add([changes.rows[n] for n in fresh], None if vectors is None else vectors[fresh])
        self.upsert([changes.rows[n] for n in kept], None if vectors is None else vectors[kept])

    def delete(self, ids: Sequence[str]) -> None:
        table = self._handle()
        if table is None:
            return
        for i in range(0, len(ids), _DELETE_CHUNK):
            where = _ids_where(ids[i : i + _DELETE_CHUNK])
            retry_lost_race(lambda where=where: table.delete(where))  # type: ignore[misc]

    def add(self, rows: Sequence[dict[str, Any]], vectors: np.ndarray | None) -> None:
        """Append rows whose ids the vector side does not hold (one commit)."""
        data = self._arrow(rows, vectors)
        retry_lost_race(lambda: self._table.add(data))
        self._learn_addresses()

    def upsert(self, rows: Sequence[dict[str, Any]], vectors: np.ndarray | None) -> None:
        """Insert or replace rows keyed on id, in one commit: repeating it changes nothing."""
        if not rows:
            return
        data = self._arrow(rows, vectors)
        merge = (
            self._table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
        )
        retry_lost_race(lambda: merge.execute(data))
        self._learn_addresses()

    def _learn_addresses(self) -> None:
        """New rows have new addresses: while searches use the address map, it reads them
        now, in the background, rather than at the next search's miss."""
        if self._row_ids.active:
            self._row_ids.refresh_soon()

    def _arrow(self, rows: Sequence[dict[str, Any]], vectors: np.ndarray | None) -> Any:
        if vectors is None:
            vectors = np.stack([np.frombuffer(r["vector"], dtype=np.float32) for r in rows])
        import pyarrow as pa

        self.ensure(vectors.shape[1])
        dim = vectors.shape[1]
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
        data = pa.table(
            {
                "id": [r["id"] for r in rows],
                "text": [r["text"] for r in rows],
                "user_id": [r["user_id"] for r in rows],
                "agent_id": [r["agent_id"] for r in rows],
                "run_id": [r["run_id"] for r in rows],
                "rev": [r["rev"] for r in rows],
                "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
            }
        )
        return data

    def reset(self) -> None:
        with self._lock:
            if self._exists():
                self._db.drop_table(TABLE)
            self._table = None
            self._has_ann = self._has_fts = False
        self._row_ids.clear()  # a table made again gives its rows the old addresses
        self._worker.close()  # its handle is on the dropped table

    # --- reads -------------------------------------------------------------------------

    def revisions(self) -> dict[str, str]:
        return dict(self.id_revs())

    def id_revs(self) -> list[tuple[str, str]]:
        """Every ``(id, rev)`` row, duplicates included (what :meth:`Stores.check` reads)."""
        if self._handle() is None:
            return []
        table = self._table.search().select(["id", "rev"]).limit(None).to_arrow()
        return list(
            zip(table.column("id").to_pylist(), table.column("rev").to_pylist(), strict=True)
        )

    # --- maintenance -------------------------------------------------------------------

    def _ensure_fts(self) -> None:
        if self._has_fts or self._table is None:
            return
        with self._lock:
            if self._has_fts:
                return
            # another process may have built it since this handle was opened
            if not any(tuple(ix.columns) == ("text",) for ix in self._table.list_indices()):
                from lancedb.index import FTS

                config = FTS(**self._fts_options)
                try:
                    retry_lost_race(
                        lambda: self._table.create_index("text", config=config, replace=False)
                    )
                except Exception as exc:  # built by another process meanwhile
                    if "exist" not in str(exc).lower():
                        raise
            self._has_fts = True

    def maintain(self, *, cleanup_older_than: timedelta = timedelta(seconds=30)) -> float | None:
        """Compact fragments, fold new rows into indexes, drop old versions, build or
        retrain the ANN index (policy in ``_upkeep``), then reopen the handle (a
        long-lived handle grows in memory with every commit). Returns the seconds after
        which upkeep has more to do even if nothing is written (``None``: nothing).
        Past ``WORKER_MIN_ROWS``
        rows (or ``ann_min_rows``, if lower) this runs in the index worker process, where
        it cannot stall appends (see ``_index_worker``); search picks up what it commits.
        Upkeep that loses a commit race to a write yields: the write matters more, and
        the next run compacts."""
        table = self._handle()
        if table is None:
            return None
        try:
            if table.count_rows() >= min(self._ann_min_rows, WORKER_MIN_ROWS):
                report = self._worker.upkeep(
                    ann_min_rows=self._ann_min_rows, cleanup_older_than=cleanup_older_than
                )
            else:
                report = upkeep(
                    table, ann_min_rows=self._ann_min_rows, cleanup_older_than=cleanup_older_than
                )
        except Exception as exc:
            if not lost_commit_race(exc):
                raise
            log.info("index upkeep yielded to a concurrent commit (%s)", exc)
            return None
        if report["built"]:
            log.info("ANN index trained: %s (upkeep %.1f s)", report["built"], report["seconds"])
        with self._lock:
            self._open()
        again: float | None = report.get("again_s")
        if self._row_ids.ready:  # this process searches by index: ready it for the next
            self._prewarm()  # a new index, if upkeep built one
        if self._row_ids.active or (self._row_ids.ready and again is None):
            # a compaction moved rows to new fragments; once the table has settled, a map
            # searches use learns them now even if none searched lately
            self._row_ids.refresh_soon()
        return again

    def _prewarm(self) -> None:
        """Ask LanceDB to load the ANN index into its cache, without waiting for it (on
        LanceDB's event loop), where each search would otherwise load the partitions it
        probes on first touch. Once per index, from the first index search of this
        process and after upkeep built one. Opening a 1M-row store, OS cache warm, the
        first 20 searches: p50 25 -> 15-19 ms; cold, the first 20 are slower (the index
        is read from disk beside them) and the rest faster (``benchmarks.first_searches``,
        issue 14). A hint: a failure only costs those loads, and is logged."""
        from lancedb.background_loop import LOOP

        with self._lock:
            table, names = self._table, [n for n in self._ann_names if n not in self._warmed]
            self._warmed.update(names)
        for name in names:
            done = asyncio.run_coroutine_threadsafe(table._table.prewarm_index(name), LOOP.loop)
            done.add_done_callback(_log_prewarm)

    def close(self) -> None:
        """Stop the index worker (an unfinished build is abandoned; nothing is lost) and
        the address map's thread."""
        self._worker.close()
        self._row_ids.close()

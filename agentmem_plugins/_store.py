"""``Stores``: the two persistence sides kept consistent, by any number of processes.

SQL is the source of truth (DESIGN invariants 2 and 7). A batch goes:

1. SQL, one transaction: the records plus a *write intent* (the ids the batch changes);
2. the vector side: new ids appended, replaced ids upserted keyed on id, deletes
   (a batch of ids the writer just generated, that no other process can know yet,
   commits its intent first and then writes both sides in parallel);
3. a revision check: SQL's current revisions of those ids against what was written. A
   difference means another process changed a row meanwhile; the row is then re-read
   from SQL and written again (keyed on id), until the two agree;
4. the intent is finished (dropped with the next batch's transaction).

Whichever write to a row lands last on the vector side, its writer checks SQL after it,
so the vector side ends at SQL's revision. A process that dies leaves its intents open;
the next process that opens or maintains the store finds the dead session (stale
heartbeat, or pid gone on this host), claims its intents and rewrites only those ids
from SQL, skipping ids that a live process has in flight. :meth:`check` compares the
whole of both sides (missing, extra, duplicate, stale) and repairs on request.

This is the whole interface the memory uses. With vectors in pgvector in the records'
own database (``vector_uri == sql_url``) every batch writes both sides in one
transaction (``atomic``): no intents, nothing in flight, nothing to repair; ``check``
still compares the two sides.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from ._check import CheckReport, compare
from ._config import MemoryConfig
from ._embedding_space import EmbeddingSpace
from ._io import IO
from .embeddings import Embedder
from .storage import Changes, PgVectorIndex, RecordStore, open_vector_backend
from .storage._journal import Intent
from .storage._record_writes import WriteMark
from .storage._reservations import IdReservations, memory_ids

__all__ = ["Stores"]

log = logging.getLogger("agentmem_plugins")
T = TypeVar("T")
PRECOMPUTED = "precomputed"
LEASE = "maintenance"
_CHUNK = 4096
_CONVERGE_ROUNDS = 5


class Stores:
    def __init__(self, config: MemoryConfig, embedder: Embedder | None) -> None:
        if config.uses_local_path:
            config.path.mkdir(parents=True, exist_ok=True)
        self.records = RecordStore(config.resolved_sql_url, synchronous=config.sqlite_synchronous)
        try:
            self.vectors = open_vector_backend(config, self.records.candidate_vectors)
        except BaseException:
            self.records.close()
            raise
        # pgvector in the records' database: one transaction per batch (issue 9), so the
        # two sides cannot diverge and a crash leaves nothing to repair
        self.atomic: PgVectorIndex | None = None
        if isinstance(self.vectors, PgVectorIndex) and (
            config.resolved_vector_uri == config.resolved_sql_url
        ):
            self.atomic = self.vectors
        try:
            meta = self.records.get_meta()
            self.space = EmbeddingSpace(
                self.records,
                self.vectors,
                embedder.name if embedder is not None else PRECOMPUTED,
                embedder.dim if embedder is not None else None,
            )
            self.space.open(meta)
        except BaseException:
            self.records.close()
            self.vectors.close()
            raise
        self.journal = self.records.journal
        self._stale_after = timedelta(seconds=config.session_stale_after_s)
        self._lease_ttl = timedelta(seconds=config.maintenance_lease_s)
        self._state = threading.Lock()  # guards the intent bookkeeping below
        self._finished: list[str] = []  # intents done, dropped with the next commit
        self._unsettled: dict[str, list[str]] = {}  # intents whose vector write failed
        self._trailing: set[asyncio.Future[None]] = set()  # revision checks still running
        self.session = self.journal.open_session()
        self.reservations = IdReservations(self.session)
        self._stop = threading.Event()
        self._beat = threading.Thread(
            target=self._heartbeat_loop,
            args=(config.session_heartbeat_s,),
            name="agentmem-heartbeat",
            daemon=True,
        )
        self._beat.start()
        if "open_session" in meta:  # the single crash marker of stores made before sessions
            log.warning("the store was not closed cleanly; checking the vector index")
            self.check(repair=True)
            self.records.delete_meta("open_session")
        elif self.atomic is not None and self.atomic.dim is None and self._holds_records():
            log.warning("building the pgvector table from the records")
            self.check(repair=True)
        self.recover()

    def _holds_records(self) -> bool:
        return self.records.count({}, None, include_invalidated=True) > 0

    # --- the write path ----------------------------------------------------------------

    def new_ids(self, n: int) -> list[str]:
        """Ids for ``n`` new memories (from this session's reserved blocks when it has
        some: see :mod:`.storage._reservations`)."""
        if self.atomic is not None:
            return memory_ids(n)
        with self._state:
            return self.reservations.take(n)

    def unused_ids(self, ids: Sequence[str]) -> None:
        """Ids from :meth:`new_ids` that no write will use."""
        if ids and self.atomic is None:
            with self._state:
                done, _ = self.reservations.settle(ids, ok=True)
                self._finished.extend(done)

    async def write(self, changes: Changes, io: IO) -> None:
        """SQL (records + intent) first, then the vector side, then the revision check.
        Once SQL has committed the write stands: a vector-side failure leaves the intent
        open, retried by maintenance, by the next open, or by ``check(repair=True)``."""
        if self.atomic is not None:  # both sides in one transaction: all or nothing
            await io(self.records.apply, changes, also=self.atomic.apply_in)
            return
        if not changes.touches_vectors():
            await io(self.records.apply, changes)
            return
        await self.settled()  # the previous batch's revision check first: checks stay in order
        ids = list(dict.fromkeys([r["id"] for r in changes.rows] + list(changes.delete_ids)))
        with self._state:
            finished, self._finished = self._finished, []
            # a batch of reserved ids is journalled already: it needs no intent of its own
            own = None
            if not (changes.generated_ids_only and self.reservations.covers(ids)):
                own = Intent(uuid.uuid4().hex, self.session, ids)
            block = self.reservations.next_block(len(ids))
        ok, deferred = False, False  # ok: both sides hold the batch (else: to repair)
        try:
            outcome = await self._write_both(changes, io, ids, own, block, finished)
            if isinstance(outcome, bool):
                ok = outcome
            else:  # acknowledged now; the revision check overlaps the next batch
                check = asyncio.ensure_future(self._settle_after(outcome, ids, own))
                self._trailing.add(check)
                check.add_done_callback(self._trailing.discard)
                deferred = True
        finally:
            if not deferred:
                self._settle(ids, own, ok=ok)

    async def settled(self) -> None:
        """Wait for the revision checks still running (see :meth:`write`)."""
        if self._trailing:
            await asyncio.gather(*self._trailing)  # never raises: _settle_after logs

    def _settle(self, ids: list[str], own: Intent | None, *, ok: bool) -> None:
        with self._state:
            done, dirty = self.reservations.settle(ids, ok=ok)
            self._finished.extend(done)
            self._unsettled.update(dirty)
            if own is not None:
                if ok:
                    self._finished.append(own.id)
                else:
                    self._unsettled.setdefault(own.id, ids)

    async def _settle_after(
        self, check: Awaitable[None], ids: list[str], own: Intent | None
    ) -> None:
        ok = False
        try:
            await check
            ok = True
        except Exception as exc:  # the write stands (SQL has it); repair converges it
            log.warning("revision check failed (%s); those rows will be rewritten from SQL", exc)
        finally:
            self._settle(ids, own, ok=ok)

    async def _write_both(
        self,
        changes: Changes,
        io: IO,
        ids: list[str],
        own: Intent | None,
        block: Intent | None,
        finished: list[str],
    ) -> bool | Awaitable[None]:
        """The two sides of :meth:`write`; ``True`` once both hold the batch. The batch's
        ``own`` intent (none when all its ids are reserved) and a new ``block`` of reserved
        ids commit with or before the first SQL transaction, which also drops the
        ``finished`` intents. Raises when SQL failed; a vector-side failure is logged and
        leaves the batch's ids to repair (``False``): SQL has committed, the write stands.
        A batch of new ids, once both sides hold it, returns its revision check instead,
        for the caller to run after acknowledging it."""
        intents = [it for it in (own, block) if it is not None]
        if not changes.generated_ids_only:  # replaced or deleted ids: SQL, then vectors
            mark = await self._journalled(
                io(self.records.apply, changes, intents, finished), block, finished
            )
            step = io(self._write_vectors, changes, mark)
        else:  # ids nobody else knows yet: both sides at once (fast mode's common case)
            if own is not None:  # not all reserved: journal the batch's ids first
                await self._journalled(io(self.journal.begin, intents, finished), block, finished)
                intents, finished = [], []
            sql, vec = await asyncio.gather(
                self._journalled(
                    io(self.records.apply, changes, intents, finished), block, finished
                ),
                io(self.vectors.apply, changes),
                return_exceptions=True,
            )
            if isinstance(sql, BaseException):
                await self._undo(io, ids, vec)
                raise sql
            if isinstance(vec, BaseException):
                log.warning("vector write failed (%s); those rows will be rewritten from SQL", vec)
                return False
            return io(self._converge, self._written(changes), sql)
        try:
            await step
        except Exception as exc:
            log.warning("vector write failed (%s); those rows will be rewritten from SQL", exc)
            return False
        return True

    async def _journalled(
        self, commit: Awaitable[T], block: Intent | None, finished: list[str]
    ) -> T:
        """Await a SQL transaction that carries ``block`` (reserved ids, usable once it has
        committed) and drops the ``finished`` intents (kept for the next one if it fails)."""
        try:
            result = await commit
        except BaseException:
            with self._state:
                self.reservations.abandoned(block)
                self._finished.extend(finished)
            raise
        with self._state:
            self.reservations.committed(block)
        return result

    async def _undo(self, io: IO, ids: list[str], vec: object) -> None:
        """SQL failed beside a vector write: remove what only the vector side took. Either
        way the batch's intent (or reserved block) goes to repair, which deletes whatever
        is left of those ids (SQL has none of them)."""
        if not isinstance(vec, BaseException):
            try:
                await io(self.vectors.delete, ids)
            except Exception:
                log.warning("could not undo a vector write; repair will", exc_info=True)

    def _write_vectors(self, changes: Changes, mark: WriteMark | None) -> None:
        self.vectors.apply(changes)
        self._converge(self._written(changes), mark)

    @staticmethod
    def _written(changes: Changes) -> dict[str, str | None]:
        written: dict[str, str | None] = {r["id"]: r["rev"] for r in changes.rows}
        written.update(dict.fromkeys(changes.delete_ids))
        return written

    def _converge(self, written: dict[str, str | None], mark: WriteMark | None = None) -> None:
        """Rewrite from SQL every id whose SQL revision is not the one just written (another
        process changed it meanwhile) until they agree. ``mark``: the SQL transaction
        that wrote them; when no other connection has committed since, nobody else can
        have changed them, and the revisions need not be read (SQLite: 1-2 ms of CPU per
        batch in fast mode, ~5% of it)."""
        if self.records.alone_since(mark):
            return
        for _ in range(_CONVERGE_ROUNDS):
            truth = self.records.revisions_of(list(written))
            drift = [i for i, rev in written.items() if truth.get(i) != rev]
            if not drift:
                return
            log.info("%d rows changed by another process meanwhile; rewriting them", len(drift))
            written = self._sync(drift)
        raise RuntimeError("rows kept changing under the revision check; left to repair")

    def _sync(self, ids: Sequence[str]) -> dict[str, str | None]:
        """Write ``ids`` to the vector side as SQL holds them now: every vector row of
        them deleted, then SQL's rows added; returns ``{id: revision or None}`` as
        written. Not an upsert: a drifted id may hold two rows (ours, appended after
        another process's upsert of an id it found in SQL), and an upsert keyed on id
        rewrites both. Between the two commits the ids are in an open intent, so a
        crash there is repaired from SQL like any other."""
        written: dict[str, str | None] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            rows = self.records.full_rows(chunk)
            self.vectors.delete(chunk)
            if rows:
                self.vectors.add(rows, None)
            written.update(dict.fromkeys(chunk))
            written.update({r["id"]: r["rev"] for r in rows})
        return written

    def claim_pending(self) -> list[dict[str, Any]]:
        """The pending items this session holds once it has claimed every item no other
        live session works on (:meth:`Journal.claim_pending`)."""
        return self.journal.claim_pending(self.session, self._stale_after)

    def take_leases(self, names: Sequence[str], ttl: timedelta) -> set[str]:
        """The leases ``names`` this session holds once it has taken every one no other
        live session holds (:meth:`Journal.take_leases`)."""
        return self.journal.take_leases(names, self.session, ttl, self._stale_after)

    def drop_leases(self, names: Sequence[str]) -> None:
        self.journal.drop_leases(names, self.session)

    # --- crashes and repair ------------------------------------------------------------

    def recover(self) -> int:
        """Repair the unfinished writes of crashed sessions (and this session's own failed
        ones); returns how many ids were rewritten from SQL."""
        claimed = self.journal.claim_dead(self.session, self._stale_after)
        with self._state:
            own = dict(self._unsettled)
        if not claimed and not own:
            return 0
        ids = list(dict.fromkeys(i for it in claimed for i in it.ids))
        ids += [i for same in own.values() for i in same]
        busy = self.journal.busy_ids(self.session)
        todo = list(dict.fromkeys(i for i in ids if i not in busy))
        for start in range(0, len(todo), _CHUNK):
            self._converge(self._sync(todo[start : start + _CHUNK]))
        self.journal.finish([it.id for it in claimed] + list(own))
        with self._state:
            for intent_id in own:
                self._unsettled.pop(intent_id, None)
        if claimed:
            log.warning(
                "repaired %d unfinished writes of crashed processes (%d rows rewritten from SQL, "
                "%d left to the live processes writing them)",
                len(claimed),
                len(todo),
                len(set(ids) - set(todo)),
            )
        return len(todo)

    def check(self, *, repair: bool = False) -> CheckReport:
        """Compare both sides (after repairing crashed sessions); with ``repair`` rebuild
        every missing, extra, duplicate and stale vector row from SQL."""
        self.recover()
        busy = self.journal.busy_ids(self.session)
        report = compare(self.records.revisions(), self.vectors.id_revs(), busy)
        if repair and not report.ok:
            # delete every copy, then add SQL's row: duplicates cannot survive
            redo = [*report.extra, *report.duplicate, *report.stale]
            if redo:
                self.vectors.delete(redo)
            readd = [*report.missing, *report.duplicate, *report.stale]
            for start in range(0, len(readd), _CHUNK):
                rows = self.records.full_rows(readd[start : start + _CHUNK])
                if rows:
                    self.vectors.add(rows, None)
            report.repaired = True
            log.warning("check repaired the vector index: %s", report.summary())
        return report

    # --- maintenance and lifecycle -----------------------------------------------------

    def maintain(self) -> float | None:
        """Repair crashed sessions, then compact and update indexes if this process holds
        the store's maintenance lease (other processes skip that part). Returns the
        seconds after which the indexes have more upkeep due with nothing written
        (``None``: none)."""
        self.recover()
        again = None
        if self.journal.acquire(LEASE, self.session, self._lease_ttl):
            try:
                again = self.vectors.maintain()
            finally:
                self.journal.release(LEASE, self.session)
        self.records.optimize()
        return again

    def _heartbeat_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                if not self.journal.heartbeat(self.session):
                    log.warning("this process was taken for a crashed one; registering again")
                    self.journal.reopen_session(self.session)
                    with self._state:  # its blocks were repaired and finished by another
                        self.reservations.forget()
                with self._state:
                    finished, self._finished = self._finished, []
                try:
                    self.journal.finish(finished)
                except Exception:
                    with self._state:
                        self._finished.extend(finished)
                    raise
            except Exception:  # a database hiccup: the next beat tries again
                log.exception("session heartbeat failed")

    def close(self) -> None:
        self._stop.set()
        self._beat.join()
        try:
            self.records.optimize()
            with self._state:
                done, dirty = self.reservations.forget()  # unused reserved ids: dropped
                self._unsettled.update(dirty)
                finished, self._finished = self._finished + done, []
            self.journal.close_session(self.session, finished)  # a clean close
        finally:
            self.vectors.close()
            self.records.close()

    def reset(self) -> None:
        if self.atomic is not None:
            self.records.reset(self.atomic.reset_in)
            return
        self.records.reset()
        self.vectors.reset()

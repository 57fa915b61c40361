"""``Journal``: what the processes sharing one store agree on, kept in SQL.

- **Sessions.** Every open registers a row (id, host, pid, start, heartbeat) and refreshes
  its heartbeat; a clean close deletes only its own row. A session has crashed when its
  heartbeat is stale, or when its pid is gone on this host.
- **Write intents.** Each batch that touches the vector side commits, in the same SQL
  transaction as its records, the ids it changes; the intent is dropped once the vector
  side holds them. Repair reads only the unfinished intents of crashed sessions, so
  recovery costs what was in flight, not what is stored.
- **Leases.** A named row with a holder and an expiry: one process at a time runs
  maintenance; the others skip it.
- **Pending work.** Each item names the session working on it (the one that recorded a
  hand-over, or that claimed the item to replay it); a replay claims only items no live
  session holds, so one item is never extracted by two processes at once.

Claims are single ``UPDATE ... WHERE`` statements, so two processes recovering at once
never both take the same crashed session's intents (SQLite serialises writers;
PostgreSQL re-checks the ``WHERE`` of a row another transaction changed).
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ._tables import IntentRow, LeaseRow, PendingRow, SessionRow

__all__ = ["Intent", "Journal", "pid_alive"]

S = SessionRow.__table__  # type: ignore[attr-defined]
I = IntentRow.__table__  # type: ignore[attr-defined]  # noqa: E741
L = LeaseRow.__table__  # type: ignore[attr-defined]
P = PendingRow.__table__  # type: ignore[attr-defined]
HOST = socket.gethostname()[:255]


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def pid_alive(pid: int) -> bool:
    """Whether a process of this host still runs ``pid`` (a zombie counts as gone)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there: trust heartbeats only
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                state = stat.read().rsplit(b")", 1)[1].split()[0]
            return state not in (b"Z", b"X")
        except (OSError, IndexError):
            return True
    return True


@dataclass(frozen=True)
class Intent:
    """The ids one batch changes; ``id`` is unique per batch."""

    id: str
    session_id: str
    ids: list[str]


class Journal:
    """Sessions, write intents and leases over the record store's engines."""

    def __init__(self, write: Engine, read: Engine) -> None:
        self._write = write
        self._read = read

    # --- sessions ----------------------------------------------------------------------

    def open_session(self) -> str:
        session_id = uuid.uuid4().hex
        now = _now()
        row = {"id": session_id, "host": HOST, "pid": os.getpid(), "started_at": now}
        with self._write.begin() as conn:
            conn.execute(S.insert(), [{**row, "heartbeat_at": now}])
        return session_id

    def heartbeat(self, session_id: str) -> bool:
        """Refresh the heartbeat; ``False`` when the row is gone (another process took this
        session for a crashed one: the caller registers again)."""
        with self._write.begin() as conn:
            result = conn.execute(
                S.update().where(S.c.id == session_id).values(heartbeat_at=_now())
            )
        return bool(result.rowcount)

    def reopen_session(self, session_id: str) -> None:
        now = _now()
        row = {"id": session_id, "host": HOST, "pid": os.getpid(), "started_at": now}
        with self._write.begin() as conn:
            conn.execute(S.delete().where(S.c.id == session_id))
            conn.execute(S.insert(), [{**row, "heartbeat_at": now}])

    def close_session(self, session_id: str, finished: Sequence[str]) -> None:
        """Drop this session and its finished intents. Unfinished ones stay, orphaned, for
        the next process to repair."""
        with self._write.begin() as conn:
            self.drop_intents(conn, finished)
            conn.execute(S.delete().where(S.c.id == session_id))

    def sessions(self) -> list[dict[str, Any]]:
        with self._read.connect() as conn:
            return [r._asdict() for r in conn.execute(sa.select(S))]

    def _dead(
        self, me: str, stale_after: timedelta, sessions: Iterable[dict[str, Any]]
    ) -> set[str]:
        limit = _now() - stale_after
        return {
            s["id"]
            for s in sessions
            if s["id"] != me
            and (s["heartbeat_at"] < limit or (s["host"] == HOST and not pid_alive(s["pid"])))
        }

    def _others_alive(self, conn: Connection, me: str, stale_after: timedelta) -> set[str]:
        """The sessions other than ``me`` that are alive now (read on ``conn``)."""
        sessions = [r._asdict() for r in conn.execute(sa.select(S))]
        return {s["id"] for s in sessions} - self._dead(me, stale_after, sessions) - {me}

    # --- intents -----------------------------------------------------------------------

    def record(
        self, conn: Connection, intents: Sequence[Intent], finished: Sequence[str]
    ) -> None:
        """Inside the caller's records transaction: add ``intents``, drop ``finished`` ones."""
        self.drop_intents(conn, finished)
        if intents:
            now = _now()
            conn.execute(
                I.insert(),
                [
                    {"id": it.id, "session_id": it.session_id, "ids": it.ids, "created_at": now}
                    for it in intents
                ],
            )

    def begin(self, intents: Sequence[Intent], finished: Sequence[str]) -> None:
        """``intents`` in a transaction of their own (before a batch whose two sides are
        written in parallel)."""
        with self._write.begin() as conn:
            self.record(conn, intents, finished)

    @staticmethod
    def drop_intents(conn: Connection, intent_ids: Sequence[str]) -> None:
        for start in range(0, len(intent_ids), 500):
            conn.execute(I.delete().where(I.c.id.in_(intent_ids[start : start + 500])))

    def finish(self, intent_ids: Sequence[str]) -> None:
        if intent_ids:
            with self._write.begin() as conn:
                self.drop_intents(conn, intent_ids)

    def intents(self) -> list[Intent]:
        with self._read.connect() as conn:
            return [
                Intent(r.id, r.session_id, list(r.ids))
                for r in conn.execute(sa.select(I.c.id, I.c.session_id, I.c.ids))
            ]

    def busy_ids(self, me: str) -> set[str]:
        """Ids in the open intents of other live sessions: rows being written right now."""
        with self._read.connect() as conn:
            live = set(conn.execute(sa.select(S.c.id)).scalars())
            rows = conn.execute(sa.select(I.c.session_id, I.c.ids).where(I.c.session_id != me))
            return {i for session, ids in rows if session in live for i in ids}

    def claim_dead(self, me: str, stale_after: timedelta) -> list[Intent]:
        """Take over the unfinished intents of crashed sessions (and of sessions that
        closed with some unfinished); returns them, now owned by ``me``."""
        with self._read.connect() as conn:
            sessions = [r._asdict() for r in conn.execute(sa.select(S))]
            owners = set(conn.execute(sa.select(I.c.session_id).distinct()).scalars())
        dead = self._dead(me, stale_after, sessions)
        live = {s["id"] for s in sessions} - dead
        orphaned = owners - live - {me}
        if not dead and not orphaned:
            return []
        with self._write.begin() as conn:
            if dead:
                conn.execute(S.delete().where(S.c.id.in_(dead)))
            claim = (
                I.update()
                .where(I.c.session_id.in_(dead | orphaned))
                .values(session_id=me)
                .returning(I.c.id, I.c.ids)
            )
            return [Intent(r.id, me, list(r.ids)) for r in conn.execute(claim)]

    # --- pending work ------------------------------------------------------------------

    def claim_pending(self, me: str, stale_after: timedelta) -> list[dict[str, Any]]:
        """Take the pending items that no other live session works on (parked ones, and
        those of crashed or closed sessions) and return every item ``me`` now holds,
        oldest first."""
        with self._read.connect() as conn:
            others = self._others_alive(conn, me, stale_after)
        claim = P.update().values(session_id=me)
        if others:  # (NOT IN is never true of a NULL)
            claim = claim.where(P.c.session_id.is_(None) | P.c.session_id.not_in(others))
        with self._write.begin() as conn:
            conn.execute(claim)
            mine = sa.select(P).where(P.c.session_id == me).order_by(P.c.created_at)
            return [r._asdict() for r in conn.execute(mine)]

    # --- leases ------------------------------------------------------------------------

    def acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take (or extend) the lease ``name`` unless another holder's is unexpired."""
        now = _now()
        with self._write.begin() as conn:
            taken = conn.execute(
                L.update()
                .where(L.c.name == name, sa.or_(L.c.holder == holder, L.c.expires_at < now))
                .values(holder=holder, expires_at=now + ttl)
            )
            if taken.rowcount:
                return True
            held = conn.execute(sa.select(L.c.name).where(L.c.name == name)).first()
        if held is not None:
            return False
        try:
            with self._write.begin() as conn:
                conn.execute(
                    L.insert(), [{"name": name, "holder": holder, "expires_at": now + ttl}]
                )
        except sa.exc.IntegrityError:  # another process inserted it first
            return False
        return True

    def release(self, name: str, holder: str) -> None:
        with self._write.begin() as conn:
            conn.execute(L.delete().where(L.c.name == name, L.c.holder == holder))

    def take_leases(
        self, names: Sequence[str], holder: str, ttl: timedelta, stale_after: timedelta
    ) -> set[str]:
        """Take (or extend) the leases ``names`` in one transaction, each unless another
        live session holds it unexpired (a crashed holder's lease is taken at once);
        returns the names ``holder`` holds now."""
        if not names:
            return set()
        now = _now()
        with self._write.begin() as conn:
            others = self._others_alive(conn, holder, stale_after)
            free = sa.or_(L.c.holder == holder, L.c.expires_at < now, L.c.holder.not_in(others))
            conn.execute(
                L.update()
                .where(L.c.name.in_(names), free)
                .values(holder=holder, expires_at=now + ttl)
            )
            rows = [{"name": n, "holder": holder, "expires_at": now + ttl} for n in names]
            conn.execute(_insert_new(conn.dialect.name).values(rows))
            held = sa.select(L.c.name).where(L.c.name.in_(names), L.c.holder == holder)
            return set(conn.execute(held).scalars())

    def drop_leases(self, names: Sequence[str], holder: str) -> None:
        """Give up the leases ``names`` that ``holder`` holds."""
        if names:
            with self._write.begin() as conn:
                conn.execute(L.delete().where(L.c.name.in_(names), L.c.holder == holder))


def _insert_new(dialect: str) -> Any:
    """An ``INSERT`` into the leases that skips names already there."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(L).on_conflict_do_nothing(index_elements=["name"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(L).on_conflict_do_nothing(index_elements=["name"])

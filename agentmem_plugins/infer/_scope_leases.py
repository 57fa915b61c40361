"""Leases on the scopes intelligent mode works on, shared by every process of a store.

In one process a scope's groups run one at a time (``_queues``). Two processes (workers
behind a load balancer, a replay of pending work) could still reconcile one user's facts
at once, each against a store without the other's new facts, and both keep theirs as
current ("I live in Berlin." in January and "I live in Lisbon." in June, added in two
workers at once: both stayed current). So a scope's worker holds a lease on the scope
(a ``store_leases`` row: holder session, expiry) from before it reads the neighbours until
after its write; another process's worker for the scope waits for it.

Cost. Leases are taken for all scopes starting in one loop turn in one SQL transaction
(``Journal.take_leases``), kept while the scope has work and for ``IDLE_RELEASE_S`` after
(a user's next message usually comes sooner), re-taken only when less than
``RENEW_LEFT_S`` of ``LEASE_TTL_S`` is left, and given up in batches the same way. A
crashed holder's leases are taken over at once (its session is dead); a stuck holder's
expire after ``LEASE_TTL_S``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from datetime import timedelta

from .._io import IO
from .._store import Stores
from ._group_commit import GroupCommit

__all__ = ["LEASE_TTL_S", "ScopeLeases"]

log = logging.getLogger("agentmem_plugins")
ScopeKey = tuple[tuple[str, str], ...]
#: how long a lease holds without being taken again
LEASE_TTL_S = 120.0
#: a scope's next group takes its lease again when less than this is left
RENEW_LEFT_S = 60.0
#: a scope without work keeps its lease this long (its next message usually comes sooner)
IDLE_RELEASE_S = 2.0
#: a worker whose scope another process holds looks again after this, doubling up to 1 s
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 1.0


def lease_name(key: ScopeKey) -> str:
    """The lease row's name for a scope (fits the 64-character column)."""
    return "scope:" + hashlib.sha1(json.dumps(key).encode()).hexdigest()


class ScopeLeases:
    """This session's leases on scopes; one per intelligent-mode pipeline."""

    def __init__(self, io: IO, stores: Stores) -> None:
        ttl = timedelta(seconds=LEASE_TTL_S)
        self._take = GroupCommit[str, set[str]](io, functools.partial(stores.take_leases, ttl=ttl))
        self._drop = GroupCommit[str, None](io, stores.drop_leases)
        self._io = io
        self._stores = stores
        self._expires: dict[str, float] = {}  # name -> loop time its lease ends
        self._idle: dict[str, asyncio.TimerHandle] = {}
        self._dropping: dict[str, asyncio.Task[None]] = {}  # name -> its release

    async def hold(self, key: ScopeKey) -> None:
        """Return once this session holds ``key``'s lease for at least ``RENEW_LEFT_S``."""
        name = lease_name(key)
        timer = self._idle.pop(name, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        if self._expires.get(name, 0.0) - loop.time() > RENEW_LEFT_S:
            return
        dropping = self._dropping.get(name)
        if dropping is not None:  # its release first, or it would undo the take below
            await dropping
        wait = RETRY_FIRST_S
        while True:
            asked = loop.time()
            if name in await self._take(name):
                self._expires[name] = asked + LEASE_TTL_S
                return
            await asyncio.sleep(wait)
            wait = min(2 * wait, RETRY_MAX_S)

    def idle(self, key: ScopeKey) -> None:
        """``key`` has no work now: give its lease up unless work comes within
        ``IDLE_RELEASE_S``."""
        name = lease_name(key)
        if name in self._expires and name not in self._idle:
            loop = asyncio.get_running_loop()
            self._idle[name] = loop.call_later(IDLE_RELEASE_S, self._release, name)

    def _release(self, name: str) -> None:
        self._idle.pop(name, None)
        self._expires.pop(name, None)
        task = asyncio.ensure_future(self._drop_logged(name))
        self._dropping[name] = task
        task.add_done_callback(self._dropped)

    def _dropped(self, task: asyncio.Task[None]) -> None:
        for name, dropping in list(self._dropping.items()):
            if dropping is task:
                del self._dropping[name]

    async def _drop_logged(self, name: str) -> None:
        try:
            await self._drop(name)
        except Exception as exc:  # it expires by itself
            log.warning("could not give up scope lease %s (%s); it expires by itself", name, exc)

    async def close(self) -> None:
        """Give up every lease this session holds."""
        for timer in self._idle.values():
            timer.cancel()
        self._idle.clear()
        if self._dropping:
            await asyncio.gather(*self._dropping.values())
        names, self._expires = list(self._expires), {}
        if names:
            await self._io(self._stores.drop_leases, names)

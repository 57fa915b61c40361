"""Memory expiry (TTL): turning ``ttl=`` / ``expires_at=`` into one stored moment.

A memory with an ``expires_at`` is gone for every read from that moment on (the SQL
reads filter it out); maintenance later deletes it with an ``EXPIRE`` history event.
Expiry is a SQL-only attribute: changing it never rewrites the vector side.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

from . import _time
from ._errors import InvalidInputError

__all__ = ["Expiry", "check_ttl", "default_expiry", "resolve_expiry", "utc_now"]

#: what ``ttl=`` accepts: seconds (int or float) or a ``timedelta``
Expiry = float | int | timedelta

_MAX_TTL = timedelta(days=365 * 1000)


def utc_now() -> datetime:
    """Naive UTC now: the one clock that writes are stamped and expiry is judged by.

    Called as ``_expiry.utc_now()`` everywhere, so tests can move time forward by
    patching this one function instead of sleeping.
    """
    return _time.now_utc()


def has_expired(expires_at: datetime | None, now: datetime) -> bool:
    """The rule every Python-side read applies (SQL reads use ``expires_at > cutoff``):
    a memory is gone from ``expires_at`` on; ``None`` never expires."""
    return expires_at is not None and expires_at <= now


def check_ttl(ttl: Any, *, field: str = "ttl") -> timedelta:
    """``ttl`` as a positive ``timedelta`` (numbers are seconds)."""
    if isinstance(ttl, timedelta):
        span = ttl
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        if not math.isfinite(ttl):
            raise InvalidInputError(f"{field} must be a finite number of seconds, got {ttl!r}")
        if abs(ttl) > _MAX_TTL.total_seconds():
            raise InvalidInputError(f"{field} must be at most 1000 years, got {ttl!r} seconds")
        span = timedelta(seconds=ttl)
    else:
        raise InvalidInputError(
            f"{field} must be a number of seconds or a datetime.timedelta, got {type(ttl).__name__}"
        )
    if span <= timedelta(0):
        raise InvalidInputError(
            f"{field} must be positive, got {span.total_seconds():g} seconds; "
            "to forget a memory now, delete it"
        )
    if span > _MAX_TTL:
        raise InvalidInputError(f"{field} must be at most 1000 years")
    return span


def _check_moment(value: Any, *, now: datetime, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{field} must be a datetime, got {type(value).__name__}")
    moment: datetime = value
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    if moment <= now:
        raise InvalidInputError(
            f"{field} {moment.isoformat()} (UTC) is not in the future; "
            "to forget a memory now, delete it"
        )
    return moment


def resolve_expiry(
    ttl: Any,
    expires_at: Any,
    *,
    now: datetime | None = None,
    default: Expiry | None = None,
    field: str = "",
) -> datetime | None:
    """The naive-UTC moment a memory expires, or ``None`` for never.

    ``ttl`` (seconds or ``timedelta``) counts from ``now`` (default: :func:`utc_now`);
    ``expires_at`` is absolute (naive datetimes are taken as UTC); at most one of them.
    ``default`` (the store's ``default_ttl``) applies when neither is given. ``field``
    prefixes error messages (``"items[3]."``).
    """
    if ttl is None and expires_at is None and default is None:
        return None  # the common case: no clock read
    if ttl is not None and expires_at is not None:
        raise InvalidInputError(f"give {field}ttl= or {field}expires_at=, not both")
    now = now or utc_now()
    if ttl is not None:
        return now + check_ttl(ttl, field=f"{field}ttl")
    if expires_at is not None:
        return _check_moment(expires_at, now=now, field=f"{field}expires_at")
    if default is not None:
        return now + check_ttl(default, field="default_ttl")
    return None


def default_expiry(default_ttl: Expiry | None) -> datetime | None:
    """When a memory written now without ``ttl=``/``expires_at=`` expires."""
    return resolve_expiry(None, None, now=utc_now(), default=default_ttl)

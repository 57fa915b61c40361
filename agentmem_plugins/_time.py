"""The one set of UTC helpers.

Storage keeps naive UTC (what SQLite and PostgreSQL ``TIMESTAMP`` columns round-trip);
the API hands out aware UTC. Every conversion between the two goes through here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import overload

from ._errors import InvalidInputError

__all__ = ["aware_utc", "naive_utc", "now_utc"]


def now_utc() -> datetime:
    """Now, as naive UTC: what both SQLite and PostgreSQL ``TIMESTAMP`` columns round-trip."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@overload
def naive_utc(value: datetime, field: str = ...) -> datetime: ...
@overload
def naive_utc(value: None, field: str = ...) -> None: ...
@overload
def naive_utc(value: datetime | None, field: str = ...) -> datetime | None: ...


def naive_utc(value: datetime | None, field: str = "observed_at") -> datetime | None:
    """Aware datetimes become naive UTC; naive ones are taken as UTC already.

    Anything other than a datetime (or ``None``) is an :class:`InvalidInputError` naming
    ``field``.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{field} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


@overload
def aware_utc(value: datetime) -> datetime: ...
@overload
def aware_utc(value: None) -> None: ...
@overload
def aware_utc(value: datetime | None) -> datetime | None: ...


def aware_utc(value: datetime | None) -> datetime | None:
    """Naive datetimes (as read back from SQL) are UTC: tag them; aware ones pass through."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value

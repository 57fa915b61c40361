"""Bulk inserts of one batch, per dialect, inside the caller's transaction.

SQLite: straight through the DBAPI, as multi-row ``INSERT`` statements, with values
converted the way SQLAlchemy's own SQLite types store them (ISO text datetimes, JSON
text); the Core path spent two thirds of the write in per-value processors.
PostgreSQL: ``COPY``. Anything else: SQLAlchemy Core ``executemany``.
"""

from __future__ import annotations

import functools
import json
import operator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

__all__ = ["bulk_insert", "sqlite_param"]

# the exact text of SQLAlchemy's sqlite DATETIME, so stored values compare alike in SQL
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def sqlite_param(value: Any) -> Any:
    """A bound parameter as SQLAlchemy's SQLite types store it (datetimes as text)."""
    return value.strftime(_SQLITE_DATETIME) if isinstance(value, datetime) else value


def bulk_insert(conn: Any, dialect: str, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts of ``table``'s columns) on ``conn``."""
    if dialect == "postgresql":
        _pg_copy(conn, table, rows)
    elif dialect == "sqlite":
        _sqlite_insert_rows(conn, table, rows)
    else:
        conn.execute(table.insert(), rows)


def _sqlite_insert_rows(conn: Any, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Multi-row ``INSERT ... VALUES (...), (...)`` statements of 2**n rows (at most
    :data:`SQLITE_ROWS_MAX`): a batch of any size takes a handful of statements, each text
    one of a few that the driver's statement cache keeps prepared. Why not
    ``executemany``: Python's sqlite3 lets go of the GIL around every row's step, and a
    writer thread beside a busy event loop then waits for it back each time (up to the
    5 ms switch interval: the GIL convoy). Intelligent mode's SQL transactions took
    31-44 ms of wall time for 5 ms of CPU that way (issue 13)."""
    names, getter, dates, jsons = _sqlite_layout(table)
    stamps: dict[datetime, str] = {}  # a batch shares a handful of timestamps
    values: list[Any] = []
    for row in rows:
        value = list(getter(row))
        for i in dates:
            if (when := value[i]) is not None:
                text = stamps.get(when)
                if text is None:
                    text = stamps[when] = when.strftime(_SQLITE_DATETIME)
                value[i] = text
        for i in jsons:
            if value[i] is not None:
                value[i] = json.dumps(value[i])
        values.extend(value)
    width, start = len(names), 0
    while start < len(rows):
        count = min(SQLITE_ROWS_MAX, 1 << ((len(rows) - start).bit_length() - 1))
        chunk = values[start * width : (start + count) * width]
        conn.exec_driver_sql(_sqlite_insert(table, count), tuple(chunk))
        start += count


#: rows per multi-row INSERT at most (SQLite binds up to 32,766 values per statement)
SQLITE_ROWS_MAX = 256


@functools.cache
def _sqlite_layout(table: sa.Table) -> tuple[list[str], Any, list[int], list[int]]:
    columns_ = _columns(table)
    names = [c.name for c in columns_]
    dates = [i for i, c in enumerate(columns_) if isinstance(c.type, sa.DateTime)]
    jsons = [i for i, c in enumerate(columns_) if isinstance(c.type, sa.JSON)]
    return names, operator.itemgetter(*names), dates, jsons


@functools.cache
def _sqlite_insert(table: sa.Table, rows: int) -> str:
    names = _sqlite_layout(table)[0]
    columns = ", ".join(f'"{n}"' for n in names)
    marks = "(" + ", ".join("?" for _ in names) + ")"
    return f'INSERT INTO "{table.name}" ({columns}) VALUES ' + ", ".join([marks] * rows)


def _columns(table: sa.Table) -> list[sa.Column[Any]]:
    """The columns a bulk insert fills: an autoincrement key is left to the database
    (history ids)."""
    return [c for c in table.c if c is not table.autoincrement_column]


def _pg_copy(conn: Any, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """COPY: 10k memories took 1.0 s against 2.9 s for SQLAlchemy's executemany
    (measured on the shared box)."""
    columns = _columns(table)
    names = [c.name for c in columns]
    jsons = {c.name for c in columns if isinstance(c.type, sa.JSON)}
    quoted = ", ".join(f'"{n}"' for n in names)
    dbapi = conn.connection.dbapi_connection
    with dbapi.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [json.dumps(row[n]) if n in jsons and row[n] is not None else row[n] for n in names]
            )

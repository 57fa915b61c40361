"""Bulk inserts of one batch, per dialect: the values converted first, then inserted
inside the caller's transaction.

The two steps are apart so that a caller can convert before it takes the writing
connection (:meth:`RecordWrites.apply`): a process has one, so a single ``add`` waits
for the whole transaction of a 1,000-row batch on it, and converting the batch's rows
and history took a third of that transaction's hold (issue 14, BENCHMARKS.md).

SQLite: straight through the DBAPI ``executemany`` with values converted the way
SQLAlchemy's own SQLite types store them (ISO text datetimes, JSON text); the Core path
spent two thirds of the write in per-value processors. PostgreSQL: ``COPY``. Anything
else: SQLAlchemy Core ``executemany``.
"""

from __future__ import annotations

import functools
import json
import operator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

__all__ = ["Insert", "prepare_insert", "sqlite_param"]

# the exact text of SQLAlchemy's sqlite DATETIME, so stored values compare alike in SQL
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def sqlite_param(value: Any) -> Any:
    """A bound parameter as SQLAlchemy's SQLite types store it (datetimes as text)."""
    return value.strftime(_SQLITE_DATETIME) if isinstance(value, datetime) else value


@dataclass(frozen=True, slots=True)
class Insert:
    """Rows of one table, converted for ``dialect``; :meth:`run` inserts them on a
    connection of that dialect."""

    dialect: str
    table: sa.Table
    values: list[Any]  # tuples (SQLite), lists (COPY) or the row dicts (Core)

    def run(self, conn: Any) -> None:
        if not self.values:
            return
        if self.dialect == "sqlite":
            conn.exec_driver_sql(_sqlite_insert(self.table)[0], self.values)
        elif self.dialect == "postgresql":
            _pg_copy(conn, self.table, self.values)
        else:
            conn.execute(self.table.insert(), self.values)


def prepare_insert(dialect: str, table: sa.Table, rows: list[dict[str, Any]]) -> Insert:
    """``rows`` (dicts of ``table``'s columns) converted for ``dialect``; no connection
    needed."""
    if dialect == "sqlite":
        return Insert(dialect, table, _sqlite_values(table, rows))
    if dialect == "postgresql":
        return Insert(dialect, table, _pg_values(table, rows))
    return Insert(dialect, table, rows)


def _sqlite_values(table: sa.Table, rows: list[dict[str, Any]]) -> list[Any]:
    _, getter, dates, jsons = _sqlite_insert(table)
    stamps: dict[datetime, str] = {}  # a batch shares a handful of timestamps
    values = []
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
        values.append(tuple(value))
    return values


@functools.cache
def _sqlite_insert(table: sa.Table) -> tuple[str, Any, list[int], list[int]]:
    # an autoincrement key is left to the database (history ids)
    names = [c.name for c in _columns(table)]
    dates = [i for i, c in enumerate(_columns(table)) if isinstance(c.type, sa.DateTime)]
    jsons = [i for i, c in enumerate(_columns(table)) if isinstance(c.type, sa.JSON)]
    columns = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" for _ in names)
    sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})'
    return sql, operator.itemgetter(*names), dates, jsons


def _columns(table: sa.Table) -> list[sa.Column[Any]]:
    return [c for c in table.c if c is not table.autoincrement_column]


def _pg_values(table: sa.Table, rows: list[dict[str, Any]]) -> list[Any]:
    names = [c.name for c in _columns(table)]
    jsons = {c.name for c in _columns(table) if isinstance(c.type, sa.JSON)}
    return [
        [json.dumps(row[n]) if n in jsons and row[n] is not None else row[n] for n in names]
        for row in rows
    ]


def _pg_copy(conn: Any, table: sa.Table, values: list[Any]) -> None:
    """COPY: 10k memories took 1.0 s against 2.9 s for SQLAlchemy's executemany
    (measured on the shared box)."""
    quoted = ", ".join(f'"{c.name}"' for c in _columns(table))
    dbapi = conn.connection.dbapi_connection
    with dbapi.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for value in values:
            copy.write_row(value)

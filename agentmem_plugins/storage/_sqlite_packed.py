"""SQLite reads in one step: SQLite packs a query's rows into one row before Python sees it.

Why. Python's ``sqlite3`` lets go of the GIL around every step of a statement, and a
``SELECT`` steps once per row. A reader thread beside a busy thread (an event loop serving
a hundred agents) then waits for the GIL back after every row: up to the interpreter's
5 ms switch interval each time, the GIL convoy. Measured (a ``/tmp`` probe: 50 rows of
``id, vector`` from a 5,000-row table, one other thread spinning in Python), the
row-by-row read took 415-429 ms and the packed read 16 ms; with no other thread 0.20 and
0.17 ms. The packed read steps twice: the aggregate row and the end.

How. ``json_group_array(json_array(...))`` carries the plain columns and
``group_concat`` the one blob column (float32 vector bytes, of one length per row). Both
aggregates step over the same rows in the same order, so the n-th array row owns the
n-th slice of the blob. ``group_concat`` copies a blob's bytes as they are in a UTF-8
database (``CAST ... AS BLOB`` hands them back as bytes); the store's tables are created
as UTF-8 and the tests read all-zero vectors back this way. A packed value larger than
SQLite allows (1 GB by default: a scope of ~650k 384-dimension vectors) is read row by
row instead.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

__all__ = ["packed_rows"]


def packed_rows(
    dbapi: Any, select: str, params: Sequence[Any], columns: Sequence[str], blob: str | None = None
) -> tuple[list[list[Any]], bytes]:
    """The rows of ``select`` (a ``SELECT`` returning ``columns``, and ``blob`` when
    given), read in one step: each row's ``columns`` values as a list (text, numbers,
    ``None``; never a blob), and the ``blob`` values of all rows joined in the same
    order (``b""`` without ``blob`` or rows). ``columns`` and ``blob`` are column names
    of the caller's fixed schema, never input."""
    fields = ", ".join(f'"{c}"' for c in columns)
    joined = f"CAST(group_concat(\"{blob}\", '') AS BLOB)" if blob is not None else "NULL"
    sql = f"SELECT json_group_array(json_array({fields})), {joined} FROM ({select})"
    try:
        rows_json, data = dbapi.execute(sql, tuple(params)).fetchone()
    except sqlite3.DataError:  # a packed value over SQLite's limit (1 GB): row by row
        return _row_by_row(dbapi, select, params, columns, blob)
    rows: list[list[Any]] = json.loads(rows_json)
    return rows, data or b""


def _row_by_row(
    dbapi: Any, select: str, params: Sequence[Any], columns: Sequence[str], blob: str | None
) -> tuple[list[list[Any]], bytes]:
    """:func:`packed_rows`' result, read a row at a time (a scope too large to pack)."""
    cursor = dbapi.execute(select, tuple(params))
    names = [d[0] for d in cursor.description]
    at = [names.index(c) for c in columns]
    rows: list[list[Any]] = []
    parts: list[bytes] = []
    where = None if blob is None else names.index(blob)
    for row in cursor:
        rows.append([row[i] for i in at])
        if where is not None:
            parts.append(row[where])
    return rows, b"".join(parts)

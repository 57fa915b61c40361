"""Metadata filters: parsed once into a small tree, compiled to parameterised SQL.

Filters are values, never code (DESIGN invariant 6): every value becomes a bound
parameter and keys are checked against a plain charset before they reach a JSON path.

Grammar (``dict`` in, :class:`FilterError` out on anything else)::

    {"k": v}                      eq
    {"k": {"gte": 3, "lt": 9}}    several operators on one key are ANDed
    {"AND": [f, ...]}, {"OR": [f, ...]}, {"NOT": f}
    operators: eq ne gt gte lt lte in nin contains

``ne``/``nin`` also match memories that lack the key (as LlamaIndex and Python's
``dict.get(k) != v`` do); every other operator needs the key to be present.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from ._errors import FilterError

__all__ = ["Cond", "Filter", "Logic", "compile_sql", "parse_filters"]

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains")
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-. ]{0,127}$")
Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Cond:
    key: str
    op: str
    value: Any


@dataclass(frozen=True)
class Logic:
    op: str  # "and" | "or" | "not"
    children: tuple[Filter, ...]


Filter = Cond | Logic


def parse_filters(filters: Any) -> Filter | None:
    """Validate ``filters`` and return its tree (``None`` for no filter)."""
    if filters is None:
        return None
    if not isinstance(filters, Mapping):
        raise FilterError(f"filters must be a dict, got {type(filters).__name__}")
    return _parse_dict(filters, "filters") if filters else None


def _parse_dict(node: Mapping[str, Any], where: str) -> Filter:
    parts: list[Filter] = []
    for key, value in node.items():
        if key in ("AND", "OR"):
            if not isinstance(value, (list, tuple)) or not value:
                raise FilterError(f"{where}.{key} must be a non-empty list of filter dicts")
            children = []
            for i, child in enumerate(value):
                if not isinstance(child, Mapping) or not child:
                    raise FilterError(f"{where}.{key}[{i}] must be a non-empty dict")
                children.append(_parse_dict(child, f"{where}.{key}[{i}]"))
            parts.append(Logic(key.lower(), tuple(children)))
        elif key == "NOT":
            if not isinstance(value, Mapping) or not value:
                raise FilterError(f"{where}.NOT must be a non-empty filter dict")
            parts.append(Logic("not", (_parse_dict(value, f"{where}.NOT"),)))
        else:
            parts.extend(_parse_key(key, value, where))
    return parts[0] if len(parts) == 1 else Logic("and", tuple(parts))


def _parse_key(key: Any, value: Any, where: str) -> list[Cond]:
    if isinstance(key, str) and key.upper() in ("AND", "OR", "NOT"):
        raise FilterError(f"{where}: logical operators are upper-case: use {key.upper()!r}")
    if not isinstance(key, str) or not _KEY.match(key):
        raise FilterError(
            f"{where}: bad metadata key {key!r}; keys in filters may use letters, digits, "
            "'_', '-', '.' and spaces (logical operators are upper-case AND/OR/NOT)"
        )
    if not isinstance(value, Mapping):
        return [Cond(key, "eq", _scalar(value, f"{where}.{key}"))]
    if not value:
        raise FilterError(f"{where}.{key}: empty operator dict")
    conds = []
    for op, operand in value.items():
        path = f"{where}.{key}.{op}"
        if op not in OPERATORS:
            raise FilterError(
                f"{where}.{key}: unknown operator {op!r}; use one of {', '.join(OPERATORS)}"
            )
        if op in ("in", "nin"):
            if not isinstance(operand, (list, tuple)) or not operand:
                raise FilterError(f"{path} needs a non-empty list of values")
            operand = tuple(_scalar(v, path) for v in operand)
        elif op in ("gt", "gte", "lt", "lte"):
            if isinstance(operand, bool) or not isinstance(operand, (int, float, str)):
                raise FilterError(f"{path} needs a number or a string, got {operand!r}")
        elif op == "contains":
            if isinstance(operand, (list, tuple, dict)) or operand is None:
                raise FilterError(f"{path} needs a scalar (substring or list element)")
            operand = _scalar(operand, path)
        else:
            operand = _scalar(operand, path)
        conds.append(Cond(key, op, operand))
    return conds


def _scalar(value: Any, where: str) -> Scalar:
    if value is None or isinstance(value, (str, bool, int, float)):
        if isinstance(value, float) and value != value:
            raise FilterError(f"{where}: NaN cannot be compared")
        return value
    raise FilterError(
        f"{where}: filter values must be str, int, float, bool or None, got {type(value).__name__}"
    )


# --- SQL compilation ---------------------------------------------------------------------


class _JsonType(FunctionElement[Any]):
    """The JSON type of ``column[key]`` normalised per dialect (see the compilers below)."""

    inherit_cache = True
    type = sa.String()


class _JsonText(FunctionElement[Any]):
    """``column[key]`` as text (for strings) or its JSON text (for numbers)."""

    inherit_cache = True
    type = sa.String()


class _JsonNumber(FunctionElement[Any]):
    inherit_cache = True
    type = sa.Float()


class _JsonArrayHas(FunctionElement[Any]):
    """True when ``column[key]`` is a JSON array holding the scalar value."""

    inherit_cache = True
    type = sa.Boolean()


def _sqlite_path(key: str) -> str:
    return '$."' + key + '"'  # key charset is checked: no quotes can appear


@compiles(_JsonType, "sqlite")
def _sqlite_type(el, compiler, **kw):  # type: ignore[no-untyped-def]
    col, key = el.clauses
    return f"json_type({compiler.process(col, **kw)}, {compiler.process(key, **kw)})"


@compiles(_JsonText, "sqlite")
@compiles(_JsonNumber, "sqlite")  # json_extract returns strings as text, numbers as numbers
def _sqlite_extract(el, compiler, **kw):  # type: ignore[no-untyped-def]
    col, key = el.clauses
    return f"json_extract({compiler.process(col, **kw)}, {compiler.process(key, **kw)})"


@compiles(_JsonArrayHas, "sqlite")
def _sqlite_has(el, compiler, **kw):  # type: ignore[no-untyped-def]
    col, key, value = el.clauses
    c, k, v = (compiler.process(x, **kw) for x in (col, key, value))
    return (
        f"(json_type({c}, {k}) = 'array' AND EXISTS "
        f"(SELECT 1 FROM json_each({c}, {k}) AS je WHERE je.value = {v}))"
    )


@compiles(_JsonType, "postgresql")
def _pg_type(el, compiler, **kw):  # type: ignore[no-untyped-def]
    col, key = el.clauses
    return (
        f"(CASE json_typeof(({compiler.process(col, **kw)})::json -> "
        f"{compiler.process(key, **kw)}) WHEN 'string' THEN 'text' WHEN 'number' THEN "
        f"'integer' WHEN 'boolean' THEN (({compiler.process(col, **kw)})::json ->> "
        f"{compiler.process(key, **kw)}) ELSE json_typeof(({compiler.process(col, **kw)})::json "
        f"-> {compiler.process(key, **kw)}) END)"
    )


@compiles(_JsonText, "postgresql")
def _pg_text(el, compiler, **kw):  # type: ignore[no-untyped-def]
    col, key = el.clauses
    return f"(({compiler.process(col, **kw)})::json ->> {compiler.process(key, **kw)})"


@compiles(_JsonNumber, "postgresql")
def _pg_num(el, compiler, **kw):  # type: ignore[no-untyped-def]
    col, key = el.clauses
    return (
        f"(CASE WHEN json_typeof(({compiler.process(col, **kw)})::json -> "
        f"{compiler.process(key, **kw)}) = 'number' THEN "
        f"(({compiler.process(col, **kw)})::json ->> {compiler.process(key, **kw)})"
        "::double precision END)"
    )


@compiles(_JsonArrayHas, "postgresql")
def _pg_has(el, compiler, **kw):  # type: ignore[no-untyped-def]
    col, key, value = el.clauses
    c, k, v = (compiler.process(x, **kw) for x in (col, key, value))
    return f"coalesce(({c})::jsonb -> {k} @> jsonb_build_array({v}), false)"


def _key_param(key: str, dialect_path: bool) -> ColumnElement[Any]:
    return sa.literal(_sqlite_path(key) if dialect_path else key, sa.String())


def compile_sql(node: Filter, column: ColumnElement[Any], dialect: str) -> ColumnElement[bool]:
    """``node`` as a SQL boolean over the JSON ``column``; every value is a bound parameter."""
    if isinstance(node, Logic):
        parts = [compile_sql(c, column, dialect) for c in node.children]
        if node.op == "and":
            return sa.and_(*parts)
        if node.op == "or":
            return sa.or_(*parts)
        return sa.not_(_definitely(parts[0]))
    return _cond_sql(node, column, dialect == "sqlite", pg=dialect == "postgresql")


def _definitely(expr: ColumnElement[bool]) -> ColumnElement[bool]:
    """SQL NULL (a missing key) becomes false, so NOT(...) of it is true."""
    return sa.case((expr, sa.true()), else_=sa.false())


def _cond_sql(
    cond: Cond, column: ColumnElement[Any], sqlite: bool, *, pg: bool = False
) -> ColumnElement[bool]:
    key = _key_param(cond.key, sqlite)
    if cond.op == "ne":
        return sa.not_(_definitely(_eq(column, key, cond.value)))
    if cond.op == "in":
        return sa.or_(*(_eq(column, key, v, cond.key if pg else None) for v in cond.value))
    if cond.op == "nin":
        return sa.not_(_definitely(sa.or_(*(_eq(column, key, v) for v in cond.value))))
    if cond.op == "eq":
        return _eq(column, key, cond.value, cond.key if pg else None)
    if cond.op == "contains":
        as_text = _JsonText(column, key)
        substring = (
            sa.and_(
                _JsonType(column, key) == "text",
                as_text.contains(str(cond.value), autoescape=True),
            )
            if isinstance(cond.value, str)
            else sa.false()
        )
        return sa.or_(substring, _JsonArrayHas(column, key, sa.literal(cond.value)))
    compare = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}[cond.op]
    if isinstance(cond.value, str):
        lhs: ColumnElement[Any] = _JsonText(column, key)
        typed = _JsonType(column, key) == "text"
    else:
        lhs = _JsonNumber(column, key)
        typed = _JsonType(column, key).in_(("integer", "real"))
    return sa.and_(typed, getattr(lhs, compare)(cond.value))


def _eq(
    column: ColumnElement[Any],
    key: ColumnElement[Any],
    value: Scalar,
    jsonb_key: str | None = None,
) -> ColumnElement[bool]:
    exact = _typed_eq(column, key, value)
    if jsonb_key is None:
        return exact
    # PostgreSQL: JSONB containment is answered from the GIN index on metadata; the typed
    # test beside it keeps the meaning exact (containment also matches array elements)
    contains = column.op("@>")(sa.cast(sa.literal(json.dumps({jsonb_key: value})), JSONB))
    return sa.and_(contains, exact)


def _typed_eq(
    column: ColumnElement[Any], key: ColumnElement[Any], value: Scalar
) -> ColumnElement[bool]:
    kind = _JsonType(column, key)
    if value is None:
        return kind == "null"
    if isinstance(value, bool):
        return kind == ("true" if value else "false")
    if isinstance(value, (int, float)):
        return sa.and_(kind.in_(("integer", "real")), _JsonNumber(column, key) == float(value))
    return sa.and_(kind == "text", _JsonText(column, key) == value)

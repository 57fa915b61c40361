"""Metadata filters as LangChain users write them, mapped onto the core's grammar.

Both spellings are accepted and may be mixed:

* the core's: ``{"k": v}``, ``{"k": {"gte": 3}}``, ``{"AND": [...]}``, ``{"OR": [...]}``,
  ``{"NOT": {...}}`` (see ``docs/core-api.md``);
* the Mongo-style one of Chroma, PGVector and LangGraph: ``{"k": {"$gte": 3}}``,
  ``{"$and": [...]}``, ``{"$or": [...]}``, ``{"$not": {...}}``.

Only names are translated; values and semantics are the core's, which validates the
result and raises ``FilterError`` (a ``ValueError``) on anything it cannot take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmem_plugins import FilterError

__all__ = ["to_core_filter"]

_LOGIC = {"$and": "AND", "$or": "OR", "$not": "NOT", "AND": "AND", "OR": "OR", "NOT": "NOT"}
_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains")


def to_core_filter(flt: Any, where: str = "filter") -> dict[str, Any] | None:
    """``flt`` in the core's grammar (``None`` and ``{}`` mean no filter)."""
    if flt is None:
        return None
    if not isinstance(flt, Mapping):
        raise FilterError(f"{where} must be a dict, got {type(flt).__name__}")
    return _node(flt, where) if flt else None


def _node(node: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(key, str) and key in _LOGIC:
            logic = _LOGIC[key]
            if logic == "NOT":
                if not isinstance(value, Mapping):
                    raise FilterError(f"{where}.{key} must be a filter dict")
                out["NOT"] = _node(value, f"{where}.{key}")
            else:
                if not isinstance(value, (list, tuple)):
                    raise FilterError(f"{where}.{key} must be a list of filter dicts")
                out[logic] = [
                    _node(v, f"{where}.{key}[{i}]") if isinstance(v, Mapping) else v
                    for i, v in enumerate(value)
                ]
        elif isinstance(key, str) and key.startswith("$"):
            raise FilterError(
                f"{where}: unknown logical operator {key!r}; use $and, $or or $not "
                "(or AND, OR, NOT)"
            )
        elif isinstance(value, Mapping):
            out[key] = {_op(op, f"{where}.{key}"): v for op, v in value.items()}
        else:
            out[key] = value
    return out


def _op(op: Any, where: str) -> str:
    name = op[1:] if isinstance(op, str) and op.startswith("$") else op
    if name not in _OPS:
        raise FilterError(
            f"{where}: unknown operator {op!r}; use one of " + ", ".join(f"${o}" for o in _OPS)
        )
    return name

"""LlamaIndex ``MetadataFilters`` -> the core's filter dict, with the framework's semantics.

The reference is LlamaIndex's own evaluator (``build_metadata_filter_fn``, used by
``SimpleVectorStore``); each mapping below keeps its meaning:

=====================  ==================================================================
LlamaIndex             core filter
=====================  ==================================================================
``==`` ``!=``          ``eq`` / ``ne`` (``!=`` matches a missing key, as in LlamaIndex)
``>`` ``>=`` ``<``...  ``gt`` ``gte`` ``lt`` ``lte`` (numbers with numbers, text with text)
``in`` ``nin``         ``in`` / ``nin`` (``nin`` matches a missing key)
``contains``           ``contains``: element of a list, or substring of a string
``any`` / ``all``      ``OR`` / ``AND`` of ``contains`` over the values
``text_match``         substring of a string value (``contains`` + "is a string")
condition ``and/or``   ``AND`` / ``OR``; nested ``MetadataFilters`` nest
condition ``not``      ``NOT(OR(...))``: none of the filters match (as in LlamaIndex)
=====================  ==================================================================

``text_match_insensitive`` and ``is_empty`` cannot be expressed exactly in the core's
grammar: they raise :class:`~agentmem_plugins.FilterError` rather than return a subtly
different result. So does a ``None`` value or a value of the wrong shape (``in`` without
a list). One known difference: booleans are not numbers here (``True`` does not equal
``1``), where Python's ``==`` says they are.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from agentmem_plugins import FilterError

__all__ = ["to_core_filters"]

_SIMPLE = {
    FilterOperator.EQ: "eq",
    FilterOperator.NE: "ne",
    FilterOperator.GT: "gt",
    FilterOperator.GTE: "gte",
    FilterOperator.LT: "lt",
    FilterOperator.LTE: "lte",
    FilterOperator.CONTAINS: "contains",
}
_UNSUPPORTED = {
    FilterOperator.TEXT_MATCH_INSENSITIVE: "case-insensitive matching",
    FilterOperator.IS_EMPTY: "testing whether a key is missing",
}


def to_core_filters(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """The core filter dict for ``filters`` (``None`` when there is nothing to filter)."""
    if filters is None or not filters.filters:
        return None
    return _group(filters, "filters")


def _group(filters: MetadataFilters, where: str) -> dict[str, Any]:
    if not filters.filters:
        raise FilterError(f"{where}: an empty nested MetadataFilters matches nothing clearly")
    parts = [
        _group(f, f"{where}[{i}]") if isinstance(f, MetadataFilters) else _one(f, f"{where}[{i}]")
        for i, f in enumerate(filters.filters)
    ]
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return parts[0] if len(parts) == 1 else {"AND": parts}
    if condition == FilterCondition.OR:
        return parts[0] if len(parts) == 1 else {"OR": parts}
    if condition == FilterCondition.NOT:
        return {"NOT": parts[0] if len(parts) == 1 else {"OR": parts}}
    raise FilterError(f"{where}: unknown filter condition {condition!r}")


def _one(flt: MetadataFilter, where: str) -> dict[str, Any]:
    op, key, value = flt.operator, flt.key, flt.value
    name = f"{where} ({key!r} {op.value})"
    if op in _UNSUPPORTED:
        raise FilterError(
            f"{name}: operator {op.value!r} ({_UNSUPPORTED[op]}) is not supported by the "
            "agentmem store; use '==', 'in', 'text_match' or a nested NOT instead"
        )
    if value is None:
        raise FilterError(f"{name}: a None value cannot be compared; give a value")
    if op in (FilterOperator.IN, FilterOperator.NIN, FilterOperator.ANY, FilterOperator.ALL):
        if not isinstance(value, list) or not value:
            raise FilterError(f"{name}: needs a non-empty list of values")
        if op == FilterOperator.IN:
            return {key: {"in": list(value)}}
        if op == FilterOperator.NIN:
            return {key: {"nin": list(value)}}
        parts = [{key: {"contains": v}} for v in value]
        if len(parts) == 1:
            return parts[0]
        return {"OR": parts} if op == FilterOperator.ANY else {"AND": parts}
    if isinstance(value, list):
        raise FilterError(f"{name}: needs a single value, got a list")
    if op == FilterOperator.TEXT_MATCH:
        if not isinstance(value, str):
            raise FilterError(f"{name}: needs a string")
        # contains = substring of a string or element of a list; gte "" = "is a string"
        return {key: {"contains": value, "gte": ""}}
    if op in _SIMPLE:
        return {key: {_SIMPLE[op]: value}}
    raise FilterError(f"{name}: unknown operator {op!r}")

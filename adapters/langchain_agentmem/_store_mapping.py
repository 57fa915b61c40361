"""How LangGraph's ops, items, namespaces and filters map onto core memories, for
:class:`.store.AgentMemStore`: checking a batch of ops, the reserved metadata keys,
value filters, TTL settings, and core items back to LangGraph ``Item``/``SearchItem``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from agentmem_plugins import AsyncMemory, FilterError, MemoryItem, NotFoundError
from agentmem_plugins._time import aware_utc as _aware

_FILTER_OPS = {"$eq": "eq", "$ne": "ne", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


def _checked_ttl_config(ttl: Any) -> TTLConfig | None:
    if ttl is None:
        return None
    if not isinstance(ttl, Mapping):
        raise TypeError(f"ttl must be a dict (TTLConfig), got {type(ttl).__name__}")
    known = {"default_ttl", "refresh_on_read", "sweep_interval_minutes"}
    if unknown := set(ttl) - known:
        raise ValueError(f"unknown ttl keys {sorted(unknown)}; use {sorted(known)}")
    for key in ("default_ttl", "sweep_interval_minutes"):
        value = ttl.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
        ):
            raise ValueError(f"ttl[{key!r}] must be a positive number of minutes, got {value!r}")
    refresh = ttl.get("refresh_on_read", True)
    if not isinstance(refresh, bool):
        raise TypeError(f"ttl['refresh_on_read'] must be a bool, got {refresh!r}")
    return TTLConfig(**ttl)


def _to_refresh(item: MemoryItem, refresh: dict[str, float]) -> None:
    minutes = item.metadata.get("lg.ttl")
    if isinstance(minutes, (int, float)) and minutes > 0:
        refresh[item.id] = float(minutes)


async def _refresh(m: AsyncMemory, refresh: dict[str, float]) -> None:
    """Restart the clock of the items a read returned (SQL-only writes, one batch)."""
    results = await asyncio.gather(
        *(m.update(i, ttl=timedelta(minutes=minutes)) for i, minutes in refresh.items()),
        return_exceptions=True,
    )
    for result in results:
        # deleted or expired since it was read: nothing left to refresh
        if isinstance(result, BaseException) and not isinstance(result, NotFoundError):
            raise result


def _checked(ops: Iterable[Op], *, ttl: bool = False) -> list[Op]:
    """Validate every op before anything runs: labels as LangGraph checks them, types."""
    checked = list(ops)
    for op in checked:
        if isinstance(op, (GetOp, PutOp)):
            _labels(op.namespace)
            if not isinstance(op.key, str):
                raise TypeError(f"key must be a str, got {type(op.key).__name__}")
        if isinstance(op, PutOp):
            if op.value is not None and not isinstance(op.value, Mapping):
                raise TypeError(
                    f"value must be a dict (or None to delete), got {type(op.value).__name__}"
                )
            if op.ttl is not None and not ttl:
                raise NotImplementedError(
                    "TTL is not enabled on this AgentMemStore: build it with "
                    'ttl={"default_ttl": minutes, ...}, or put with ttl=None'
                )
            if op.ttl is not None and (
                isinstance(op.ttl, bool) or not isinstance(op.ttl, (int, float)) or op.ttl <= 0
            ):
                raise ValueError(f"ttl must be a positive number of minutes, got {op.ttl!r}")
            if (
                op.index is not None
                and op.index is not False
                and (isinstance(op.index, str) or not all(isinstance(p, str) for p in op.index))
            ):
                raise TypeError("index must be False, None or a list of field paths")
        elif isinstance(op, SearchOp):
            _labels(op.namespace_prefix)
            for name in ("limit", "offset"):
                value = getattr(op, name)
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{name} must be an int >= 0, got {value!r}")
            if op.query is not None and not isinstance(op.query, str):
                raise TypeError(f"query must be a str, got {type(op.query).__name__}")
        elif isinstance(op, ListNamespacesOp):
            for cond in op.match_conditions or ():
                if not isinstance(cond, MatchCondition) or cond.match_type not in (
                    "prefix",
                    "suffix",
                ):
                    raise ValueError(f"unsupported match condition {cond!r}")
                _labels(cond.path)
        elif not isinstance(op, GetOp):
            raise ValueError(f"Unknown operation type: {type(op).__name__}")
    return checked


def _labels(namespace: Any) -> None:
    if not isinstance(namespace, tuple):
        raise InvalidNamespaceError(
            f"Namespace must be a tuple of str, got {type(namespace).__name__}: {namespace!r}"
        )
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespaceError(
                f"Invalid namespace label '{label}' found in {namespace}. Namespace labels "
                f"must be strings, but got {type(label).__name__}."
            )
        if "." in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label '{label}' found in {namespace}. Namespace labels "
                "cannot contain periods ('.')."
            )
        if "\x00" in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label '{label}' found in {namespace}. Namespace labels "
                "cannot contain NUL bytes ('\\x00')."
            )
        if not label:
            raise InvalidNamespaceError(
                f"Namespace labels cannot be empty strings. Got {label} in {namespace}"
            )


def _placeholder_text(op: PutOp) -> str:
    return "/".join((*op.namespace, op.key)) or "item"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _flatten(value: Mapping[str, Any], path: str, out: dict[str, Any]) -> None:
    for key, v in value.items():
        here = f"{path}{key}"
        if isinstance(v, Mapping):
            _flatten(v, f"{here}.", out)
        elif isinstance(v, (list, tuple)):
            out[f"vj.{here}"] = _canonical(list(v))
        else:
            out[f"v.{here}"] = v


def _value_filter(flt: Any, path: str = "") -> list[dict[str, Any]]:
    """LangGraph's value filter as core filter clauses (ANDed by the caller)."""
    if flt is None:
        return []
    if not isinstance(flt, Mapping):
        raise FilterError(f"filter must be a dict, got {type(flt).__name__}")
    clauses: list[dict[str, Any]] = []
    for key, want in flt.items():
        if not isinstance(key, str) or not key:
            raise FilterError(f"filter keys must be non-empty str, got {key!r}")
        here = f"{path}{key}"
        if isinstance(want, Mapping) and any(str(k).startswith("$") for k in want):
            ops = {}
            for op, operand in want.items():
                if op not in _FILTER_OPS:
                    raise FilterError(
                        f"filter.{here}: unsupported operator {op!r}; use one of "
                        f"{', '.join(_FILTER_OPS)}"
                    )
                ops[_FILTER_OPS[op]] = operand
            clauses.append({f"v.{here}": ops})
        elif isinstance(want, Mapping):
            clauses.extend(_value_filter(want, f"{here}."))
        elif isinstance(want, (list, tuple)):
            clauses.append({f"vj.{here}": _canonical(list(want))})
        else:
            clauses.append({f"v.{here}": want})
    return clauses


def _and(clauses: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"AND": clauses}


def _is_ours(item: MemoryItem) -> bool:
    meta = item.metadata
    return isinstance(meta.get("lg.ns"), list) and "lg.key" in meta and "lg.value" in meta


def _owns(item: MemoryItem, namespace: tuple[str, ...], key: str) -> bool:
    return (
        _is_ours(item)
        and tuple(item.metadata["lg.ns"]) == namespace
        and (item.metadata["lg.key"] == key)
    )


def _to_item(item: MemoryItem) -> Item:
    meta = item.metadata
    return Item(
        value=meta["lg.value"],
        key=meta["lg.key"],
        namespace=tuple(meta["lg.ns"]),
        created_at=_aware(item.created_at),
        updated_at=_aware(item.updated_at),
    )


def _to_search_item(item: MemoryItem, score: float | None) -> SearchItem:
    meta = item.metadata
    return SearchItem(
        namespace=tuple(meta["lg.ns"]),
        key=meta["lg.key"],
        value=meta["lg.value"],
        created_at=_aware(item.created_at),
        updated_at=_aware(item.updated_at),
        score=float(score) if score is not None else None,
    )


def _matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "suffix":
        namespace = namespace[len(namespace) - len(path) :]
    else:
        namespace = namespace[: len(path)]
    pairs = zip(namespace, path, strict=True)
    return all(p == "*" or n == p for n, p in pairs)

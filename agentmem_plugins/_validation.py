"""Input checks shared by every write and read: one clear error, nothing stored."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._errors import InvalidInputError, ScopeError

__all__ = ["Scope", "check_id", "check_metadata", "check_scope", "check_text", "check_vector"]

SCOPE_FIELDS = ("user_id", "agent_id", "run_id")
Scope = dict[str, str]  # only the scope fields that were given


def check_text(text: Any, *, max_chars: int, field: str = "text") -> str:
    """Return ``text`` if it can be stored verbatim, else raise :class:`InvalidInputError`."""
    if not isinstance(text, str):
        raise InvalidInputError(f"{field} must be a str, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInputError(f"{field} is empty or whitespace; give some text to remember")
    if len(text) > max_chars:
        raise InvalidInputError(
            f"{field} has {len(text):,} characters, over the limit of {max_chars:,}; "
            "split it or raise MemoryConfig(max_text_chars=...)"
        )
    if "\x00" in text:
        # SQLite would take it, PostgreSQL text cannot: refuse it everywhere alike.
        raise InvalidInputError(
            f"{field} contains a NUL character (\\x00) at position {text.index(chr(0))}; remove it"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{field} contains a lone surrogate ({text[exc.start]!a}) at position {exc.start}, "
            "which is not valid Unicode text; decode your input with errors='replace'"
        ) from None
    return text


def check_id(value: Any, *, field: str = "memory_id") -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a str, got {type(value).__name__}")
    if not value or len(value) > 512:
        raise InvalidInputError(f"{field} must be 1 to 512 characters, got {len(value)}")
    if "\x00" in value:
        raise InvalidInputError(f"{field} contains a NUL character; ids must be plain text")
    return value


def check_scope(
    user_id: Any = None, agent_id: Any = None, run_id: Any = None, *, required: bool
) -> Scope:
    """The scope fields that were given, validated; ``required`` demands at least one."""
    scope: Scope = {}
    for name, value in zip(SCOPE_FIELDS, (user_id, agent_id, run_id), strict=True):
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ScopeError(f"{name} must be a non-empty str, got {value!r}")
        if "\x00" in value or len(value) > 512:
            raise ScopeError(f"{name} must be at most 512 characters and contain no NUL")
        scope[name] = value
    if required and not scope:
        raise ScopeError(
            "no scope given: pass user_id=, agent_id= or run_id= "
            "(or all_scopes=True for a read across every scope)"
        )
    return scope


# values stored as they are: immutable, and JSON as they are (float is not: NaN, inf)
_FLAT = (str, int, bool, type(None))


def _flat_copy(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """``metadata`` copied as its JSON round trip would give it, when every value is a
    str, int, bool, None or a list/tuple of those; ``None`` for anything else."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if type(value) in _FLAT:
            out[key] = value
        elif type(value) in (list, tuple) and all(type(v) in _FLAT for v in value):
            out[key] = list(value)
        else:
            return None
    return out


def check_metadata(metadata: Any, *, field: str = "metadata") -> dict[str, Any]:
    """A JSON-serialisable dict with str keys (copied, so later caller edits don't leak in)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"{field} must be a dict, got {type(metadata).__name__}")
    for key in metadata:
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"{field} keys must be non-empty str, got {key!r}")
    flat = _flat_copy(metadata)  # the common case, without a JSON round trip
    if flat is not None:
        return flat
    try:
        checked: dict[str, Any] = json.loads(json.dumps(dict(metadata), allow_nan=False))
        return checked
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{field} must be JSON-serialisable (str, int, float, bool, None, lists and dicts "
            f"of those): {exc}"
        ) from None


def check_vector(vector: Any, *, dim: int | None, field: str = "vector") -> np.ndarray:
    """A finite 1-d float32 vector of the store's dimension (checked with numpy: a Python
    loop over a 384-float list cost ~45 us an item on the batch path)."""
    if isinstance(vector, (str, bytes)) or vector is None:
        raise InvalidInputError(f"{field} must be a sequence of numbers")
    try:
        values = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{field} must be a sequence of numbers") from None
    if values.ndim != 1:
        raise InvalidInputError(f"{field} must be a flat sequence of numbers")
    if values.size == 0:
        raise InvalidInputError(f"{field} is empty")
    if dim is not None and values.size != dim:
        raise InvalidInputError(
            f"{field} has {values.size} dimensions but this store's embedding space has {dim}"
        )
    if not np.isfinite(values).all():
        raise InvalidInputError(f"{field} contains NaN or infinity")
    return values

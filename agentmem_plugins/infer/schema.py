"""The JSON the LLM must answer with, as pydantic models (validated by ``call_json``).

Extraction answer::

    {"facts": [{"text": "Lives in Berlin", "observed_at": "2024-05-02"}]}

``observed_at`` (optional, ISO 8601 date or datetime) is when the fact was stated (the
``observed_at`` of the message it came from); missing or unparseable means "the newest
message's time". A bare string in ``facts`` is accepted as ``{"text": ...}``; empty
texts are dropped.

Decision answer (memories are shown under small integer ids "0", "1", ...; new facts by
their index in the prompt)::

    {"decisions": [
      {"fact": 0, "action": "add",        "target": null, "text": "Lives in Berlin",
       "reason": "new information"},
      {"fact": 1, "action": "update",     "target": 2,    "text": "Likes green tea",
       "reason": "more specific"},
      {"fact": 2, "action": "invalidate", "target": 0,    "text": "Works at Acme",
       "reason": "changed jobs"},
      {"fact": 3, "action": "none",       "target": 1,    "text": null,
       "reason": "already known"}
    ]}

* ``add``: store ``text`` (default: the fact's text) as a new memory; ``target`` ignored.
* ``update``: rewrite memory ``target`` to ``text`` (same fact, refined or merged).
* ``invalidate``: memory ``target`` no longer holds (the fact contradicts it); it is kept,
  marked invalid with ``reason``, and the fact is added as a new memory with ``text``.
  Several decisions may invalidate several memories for one fact; it is added once.
* ``none``: the fact is already known (``target``: the duplicate, optional); nothing written.

``target`` may be an integer or a numeric string. Ids are mapped back to real ones by
:func:`agentmem_plugins.infer.prompts.map_decisions`, which drops unknown ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = [
    "Action",
    "AddOp",
    "Decision",
    "DecisionAnswer",
    "ExtractedFact",
    "ExtractionAnswer",
    "InvalidateOp",
    "MemoryOp",
    "NoneOp",
    "UpdateOp",
    "parse_when",
]

Action = Literal["add", "update", "invalidate", "none"]
_ACTION_ALIASES = {
    "delete": "invalidate",
    "contradict": "invalidate",
    "noop": "none",
    "no_op": "none",
    "no-op": "none",
    "skip": "none",
    "ignore": "none",
    "keep": "none",
}


def parse_when(value: Any) -> datetime | None:
    """An ISO 8601 date or datetime (``Z`` accepted), else ``None``; never raises."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


class _Lenient(BaseModel):
    # Extra keys from a chatty model are ignored, not an error worth a re-ask.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ExtractedFact(_Lenient):
    """One durable fact, short and self-contained ("Lives in Berlin")."""

    text: str
    observed_at: datetime | None = None

    @field_validator("text", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v

    @field_validator("observed_at", mode="before")
    @classmethod
    def _when(cls, v: Any) -> datetime | None:
        return parse_when(v)


class ExtractionAnswer(_Lenient):
    """``{"facts": [...]}``: what the extraction call must return."""

    facts: list[ExtractedFact]

    @field_validator("facts", mode="before")
    @classmethod
    def _coerce(cls, v: Any) -> Any:
        if not isinstance(v, list):
            return v
        items = [{"text": item} if isinstance(item, str) else item for item in v]
        # a fact with an empty text is noise, not a reason to re-ask
        return [
            i
            for i in items
            if not (isinstance(i, dict) and "text" in i and not str(i["text"] or "").strip())
        ]


class Decision(_Lenient):
    """What to do with new fact ``fact`` (its index in the prompt)."""

    fact: int
    action: Action
    target: int | None = None
    text: str | None = None
    reason: str | None = None

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, v: Any) -> Any:
        # Models trained on Mem0-style prompts say DELETE / NOOP; accept those spellings.
        if isinstance(v, str):
            s = v.strip().lower()
            return _ACTION_ALIASES.get(s, s)
        return v

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, v: Any) -> Any:
        # "2" -> 2; "", "null", "none" -> None; any other string -> -1, an id that
        # map_decisions drops and logs (one bad id is not worth re-asking the whole answer).
        if isinstance(v, str):
            s = v.strip().lower()
            if s in ("", "null", "none"):
                return None
            return int(s) if s.lstrip("-").isdigit() else -1
        return v

    @field_validator("text", "reason", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        if isinstance(v, str):
            return v.strip() or None
        return v


class DecisionAnswer(_Lenient):
    """``{"decisions": [...]}``: what the decision call must return."""

    decisions: list[Decision]


# Typed operations: what a decision answer means once its ids are mapped back
# (:func:`agentmem_plugins.infer.prompts.map_decisions`). ``fact`` is the index of the
# new fact that caused the operation; ``observed_at`` is that fact's time.


@dataclass(frozen=True)
class AddOp:
    """Store ``text`` as a new memory."""

    fact: int
    text: str
    observed_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class UpdateOp:
    """Rewrite memory ``memory_id`` to ``text`` (history: UPDATE)."""

    fact: int
    memory_id: str
    text: str
    observed_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class InvalidateOp:
    """Memory ``memory_id`` stopped holding at ``observed_at`` because of ``reason``.

    Always followed by an :class:`AddOp` for the same fact (the new truth).
    """

    fact: int
    memory_id: str
    observed_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class NoneOp:
    """Nothing to write: the fact duplicates ``memory_id`` (when known)."""

    fact: int
    memory_id: str | None = None
    reason: str | None = None


MemoryOp = AddOp | UpdateOp | InvalidateOp | NoneOp

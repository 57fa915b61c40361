"""The JSON the LLM must answer with, as pydantic models (validated by ``call_json``).

Extraction answer (one fact per statement, in the order stated)::

    {"facts": [{"text": "Lives in Berlin", "message": 0, "observed_at": "2024-05-02",
                "valid_from": null}]}

``message`` is the index of the message the fact was stated in: the fact's observation
time, and the caller whose events it joins, come from that message. ``observed_at``
(optional, ISO 8601) is that message's time, used to place a fact whose ``message`` is
missing; ``valid_from`` (optional) is the date the fact began to hold when the message
says so ("since March"). A bare string in ``facts`` is accepted as ``{"text": ...}``;
empty texts are dropped.

One-call answer (:class:`ExtractDecideAnswer`): both lists in one object,
``{"facts": [...], "decisions": [...]}``, decisions naming facts by their position in
``facts``.

Decision answer (memories are shown under small integer ids "0", "1", ...; new facts by
their index in the prompt)::

    {"decisions": [
      {"fact": 0, "action": "add",        "target": null, "text": "Lives in Berlin",
       "reason": "new information"},
      {"fact": 1, "action": "update",     "target": 2,    "text": "Likes green tea",
       "reason": "more specific"},
      {"fact": 2, "action": "invalidate", "target": 0,    "text": "Works at Acme",
       "reason": "changed jobs"},
      {"fact": 3, "action": "outdated",   "target": 3,    "text": "Lives in Rome",
       "reason": "the memory is newer"},
      {"fact": 4, "action": "invalidate", "target_fact": 0, "text": "Lives in Oslo",
       "reason": "moved again"},
      {"fact": 5, "action": "none",       "target": 1,    "text": null,
       "reason": "already known"}
    ]}

* ``add``: store ``text`` (default: the fact's text) as a new memory; ``target`` ignored.
* ``update``: rewrite memory ``target`` to ``text`` (same fact, refined or merged).
* ``invalidate``: the fact contradicts memory ``target`` and is newer: the memory is kept,
  ended at the fact's valid-from, and the fact is added with ``text``.
* ``outdated``: the fact contradicts memory ``target`` but is older: the fact is kept as
  history, ended where the memory begins, and the memory stays.
* ``none``: the fact is already known (``target``: the duplicate, optional); nothing written.

``target_fact`` instead of ``target`` names another new fact of the same prompt (two
statements of one batch that contradict or restate each other). Whichever of
invalidate/outdated the model picks, the code orders the two by valid time
(:mod:`agentmem_plugins.infer.timeline`). ``target`` may be an integer or a numeric
string. Ids are mapped back to real ones by
:func:`agentmem_plugins.infer.prompts.map_relations`, which drops unknown ones.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = [
    "Action",
    "Decision",
    "DecisionAnswer",
    "ExtractDecideAnswer",
    "ExtractedFact",
    "ExtractionAnswer",
    "parse_when",
]

Action = Literal["add", "update", "invalidate", "outdated", "none"]
_ACTION_ALIASES = {
    "superseded": "outdated",
    "history": "outdated",
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
    message: int | None = None
    observed_at: datetime | None = None
    valid_from: datetime | None = None

    @field_validator("text", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v

    @field_validator("message", mode="before")
    @classmethod
    def _index(cls, v: Any) -> Any:
        # a missing or odd index is not worth a re-ask: the fact is placed by its time
        if isinstance(v, str):
            return int(v) if v.strip().isdigit() else None
        return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None

    @field_validator("observed_at", "valid_from", mode="before")
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
    target_fact: int | None = None
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

    @field_validator("target", "target_fact", mode="before")
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


class ExtractDecideAnswer(ExtractionAnswer):
    """``{"facts": [...], "decisions": [...]}``: both steps in one answer (the one-call
    path). A decision's ``fact`` and ``target_fact`` are positions in ``facts``; both
    lists are required (an empty list is an answer, a missing one is re-asked)."""

    decisions: list[Decision]

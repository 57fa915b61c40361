"""The model's facts, placed: on their messages and in valid time (:func:`place`), its
decisions renumbered onto the facts kept (:func:`renumber`), and what code decides
without a model (:func:`same_text`, :func:`holds`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from .._time import naive_utc as _naive
from .._types import Message
from .schema import Decision, ExtractedFact
from .timeline import NewFact, Relation, StoredFact

__all__ = ["holds", "norm", "place", "renumber", "same_text"]


def norm(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".!")


def place(
    facts: Sequence[ExtractedFact], messages: Sequence[Message], now: datetime
) -> tuple[list[tuple[ExtractedFact, int, datetime]], list[int]]:
    """Each fact with the index of its message and its valid-from (naive UTC); and for
    each of ``facts``, the index of its entry in that list.

    The message is the one the model names, else the last one observed at the fact's
    ``observed_at``, else the last one. Valid-from is the fact's ``valid_from`` when the
    model gives one no later than the message, else the message's time. A fact repeated
    within one message is kept once (its repeats point at that entry).
    """
    fallback = now.astimezone(timezone.utc).replace(tzinfo=None)
    times = [_naive(m.observed_at) or fallback for m in messages]
    placed: list[tuple[ExtractedFact, int, datetime]] = []
    at: list[int] = []
    seen: dict[tuple[str, int], int] = {}
    for fact in facts:
        index = fact.message
        if index is None or not 0 <= index < len(messages):
            when = _naive(fact.observed_at)
            matches = [i for i, t in enumerate(times) if when is not None and t == when]
            index = matches[-1] if matches else len(messages) - 1
        key = (norm(fact.text), index)
        if key in seen:
            at.append(seen[key])
            continue
        seen[key] = len(placed)
        at.append(len(placed))
        start = times[index]
        valid_from = _naive(fact.valid_from)
        if valid_from is not None and valid_from <= start:
            start = valid_from
        placed.append((fact, index, start))
    return placed, at


def renumber(decisions: Sequence[Decision], at: Sequence[int]) -> list[Decision]:
    """The model's decisions on the placed facts' indexes (``at`` from :func:`place`).
    A decision about a repeat is dropped (the fact kept has its own); a ``target_fact``
    naming a repeat names the fact kept. Unknown positions are left for
    :func:`~agentmem_plugins.infer.prompts.map_relations` to drop and log."""
    first = {i: p for p, i in reversed(list(enumerate(at)))}  # entry -> its first position
    out = []
    for d in decisions:
        if 0 <= d.fact < len(at) and first[at[d.fact]] != d.fact:
            continue
        fact = at[d.fact] if 0 <= d.fact < len(at) else -1
        target = d.target_fact
        if target is not None:
            target = at[target] if 0 <= target < len(at) else -1
        out.append(d.model_copy(update={"fact": fact, "target_fact": target}))
    return out


def holds(memory: StoredFact, when: datetime) -> bool:
    start, end = _naive(memory.start), _naive(memory.end)
    assert start is not None
    return start <= when and (end is None or when < end)


def same_text(facts: Sequence[NewFact], stored: Sequence[StoredFact]) -> list[Relation]:
    """Restatements, which code sees without a model: identical normalised texts."""
    relations = [
        Relation(f.index, "restates", memory_id=m.id, reason="same text")
        for f in facts
        for m in stored
        if norm(f.text) == norm(m.text)
    ]
    relations += [
        Relation(f.index, "restates", other_fact=g.index, reason="same text")
        for f in facts
        for g in facts
        if g.index < f.index and norm(f.text) == norm(g.text)
    ]
    return relations

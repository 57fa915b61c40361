"""Valid time: how new facts and stored memories of one scope settle into a timeline.

Pure functions, no I/O. The decision step (an LLM, or the rule-based test model) says
how each new fact relates to stored memories and to the other new facts of its batch
(:class:`Relation`); :func:`reconcile` then applies the facts in observation order and
decides, from valid times alone, which fact holds when (DESIGN invariant 8):

* every fact and memory holds from its valid-from time (``start``: when it was said, or
  the date the message gives) until the next fact that contradicts it or restates it
  begins (``end``, ``None`` while it still holds);
* a new fact ends an existing one only if it is newer in valid time; an older fact that
  arrives late is stored already ended, at the valid-from of the newer fact, and never
  becomes current;
* a fact with the same text as a memory (a restatement) is stored as its own row: it
  takes over the rest of the interval of the memory holding at its time, which ends
  there, or ends where a later restatement begins; so a contradiction that arrives late
  and falls between two statements still splits them (a restatement at the same instant
  is a duplicate, nothing stored). A paraphrase the decision step calls the same
  ("none" with a target) is a duplicate while the memory holds at its time;
* facts of one batch are applied in observation order, so every intermediate value is
  kept (ended) with its interval.

Applied to one scope's facts in any delivery order, this yields, for every fact text,
the same validity intervals as delivery in time order (up to where a late restatement
splits one interval into two adjacent ones), as long as the neighbours passed in hold
every related memory that had not ended by the earliest new fact (``tests/infer``
checks this with hypothesis). Ties in valid time go to the later arrival.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from .._time import naive_utc

__all__ = [
    "Added",
    "Ended",
    "NewFact",
    "Plan",
    "Relation",
    "RelationKind",
    "StoredFact",
    "Unchanged",
    "Updated",
    "naive_utc",
    "reconcile",
]

RelationKind = Literal["same", "restates", "contradicts", "refines", "skip"]


@dataclass(frozen=True)
class NewFact:
    """A new fact: ``index`` in its batch, ``start`` its valid-from, ``order`` its arrival
    position within the batch (breaks ties in ``start``)."""

    index: int
    text: str
    start: datetime
    order: int = 0


@dataclass(frozen=True)
class StoredFact:
    """A stored memory with its validity interval (``end`` ``None``: still holds)."""

    id: str
    text: str
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class Relation:
    """What the decision step said about new fact ``fact``.

    ``kind``: ``restates`` (the same text as the target), ``same`` (the decision step
    says it is already known: a paraphrase, or less detail), ``contradicts`` (another
    value of the same single-valued thing), ``refines`` (the fact adds detail to the
    target; ``text`` is the merged text), ``skip`` (not worth storing; no target). The
    target is stored memory ``memory_id`` or new fact ``other_fact``; neither means "new
    information".
    """

    fact: int
    kind: RelationKind | None = None
    memory_id: str | None = None
    other_fact: int | None = None
    text: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Added:
    """Store new fact ``fact`` as ``text`` over ``[start, end)`` (``end`` set: it is
    stored already ended, with ``end_reason``, by fact ``ended_by`` or a stored one)."""

    fact: int
    text: str
    start: datetime
    end: datetime | None
    reason: str | None
    end_reason: str | None
    ended_by: int | None


@dataclass(frozen=True)
class Updated:
    """Rewrite stored memory ``memory_id`` to ``text`` holding from ``start`` (fact
    ``fact`` refined it); ``end`` as for :class:`Added`."""

    fact: int
    memory_id: str
    text: str
    start: datetime
    end: datetime | None
    reason: str | None
    end_reason: str | None
    ended_by: int | None


@dataclass(frozen=True)
class Ended:
    """Stored memory ``memory_id`` stops holding at ``end`` (earlier than before),
    because of new fact ``fact``."""

    fact: int
    memory_id: str
    end: datetime
    reason: str


@dataclass(frozen=True)
class Unchanged:
    """Fact ``fact`` changes nothing (a duplicate of ``memory_id``, or not worth storing)."""

    fact: int
    memory_id: str | None
    reason: str | None


@dataclass
class Plan:
    """The outcome of :func:`reconcile`, in the order the facts were applied."""

    added: list[Added] = field(default_factory=list)
    updated: list[Updated] = field(default_factory=list)
    ended: list[Ended] = field(default_factory=list)
    unchanged: list[Unchanged] = field(default_factory=list)


@dataclass
class _Span:
    text: str
    start: datetime
    end: datetime | None
    order: int  # arrival: stored memories -1, new facts their batch order
    memory_id: str | None = None
    fact: int | None = None  # the new fact that created it
    stored_end: datetime | None = None
    ended_by: int | None = None
    end_reason: str | None = None
    updated_by: int | None = None
    update_reason: str | None = None

    def holds_at(self, when: datetime, order: int) -> bool:
        begun = (self.start, self.order) <= (when, order)
        return begun and (self.end is None or when < self.end)

    def end_at(self, when: datetime, fact: int, reason: str) -> None:
        if self.end is None or when < self.end:
            self.end, self.ended_by, self.end_reason = when, fact, reason


def reconcile(
    facts: Sequence[NewFact], memories: Sequence[StoredFact], relations: Sequence[Relation]
) -> Plan:
    """Apply ``facts`` in valid-time order against ``memories`` (the module doc's rules).

    Relations naming an unknown memory or fact are ignored (the caller logs them).
    """
    spans: dict[str, _Span] = {
        m.id: _Span(
            m.text,
            naive_utc(m.start),
            naive_utc(m.end) if m.end else None,
            -1,
            memory_id=m.id,
            stored_end=naive_utc(m.end) if m.end else None,
        )
        for m in memories
    }
    by_fact: dict[int, list[Relation]] = {}
    for rel in relations:
        by_fact.setdefault(rel.fact, []).append(rel)
    alias: dict[int, _Span] = {}  # fact index -> the span that now carries it
    plan = Plan()
    created: list[_Span] = []
    done: set[int] = set()

    for fact in sorted(facts, key=lambda f: (naive_utc(f.start), f.order)):
        when, order = naive_utc(fact.start), fact.order
        pairs: list[tuple[RelationKind | None, _Span, bool, Relation]] = []
        for rel in by_fact.get(fact.index, []):  # this fact's own relations
            target = _target(rel, spans, alias, done)
            if target is not None:
                pairs.append((rel.kind, target, True, rel))
        for other in done:  # relations an earlier-applied fact stated about this one
            for rel in by_fact.get(other, []):
                if rel.other_fact == fact.index and other in alias:
                    pairs.append((rel.kind, alias[other], False, rel))
        done.add(fact.index)

        restated = [s for kind, s, _, _ in pairs if kind == "restates"]
        same = [s for kind, s, _, _ in pairs if kind == "same" and s not in restated]
        # refined by an earlier fact: this one is already known in more detail
        same += [s for kind, s, mine, _ in pairs if kind == "refines" and not mine]
        duplicate = next((s for s in same if s.holds_at(when, order)), None)
        duplicate = duplicate or next(
            (s for s in restated if s.start == when and s.holds_at(when, order)), None
        )
        if duplicate is not None:
            alias[fact.index] = duplicate
            plan.unchanged.append(
                Unchanged(fact.index, duplicate.memory_id, "already known at that time")
            )
            continue
        refined = next(
            (
                (s, rel)
                for kind, s, mine, rel in pairs
                if kind == "refines" and mine and s.end is None
            ),
            None,
        )
        if refined is not None:
            span, rel = refined
            span.text, span.start, span.order = rel.text or fact.text, when, order
            span.updated_by, span.update_reason = fact.index, rel.reason
        elif not pairs and any(r.kind == "skip" for r in by_fact.get(fact.index, [])):
            skip = next(r for r in by_fact[fact.index] if r.kind == "skip")
            plan.unchanged.append(Unchanged(fact.index, None, skip.reason))
            continue
        else:
            own = by_fact.get(fact.index, [])
            text = next((r.text for r in own if r.kind in (None, "contradicts") and r.text), None)
            span = _Span(text or fact.text, when, None, order, fact=fact.index)
            created.append(span)
        alias[fact.index] = span
        for kind, other_span, _, _ in pairs:
            if other_span is span or kind not in ("same", "restates", "contradicts"):
                continue
            if (other_span.start, other_span.order) <= (when, order):
                # newer in valid time: it ends an older contradicted fact here, and takes
                # over the rest of the interval of an older statement it restates (an
                # older paraphrase that still held was a duplicate, handled above)
                holds = other_span.end is None or when < other_span.end
                if kind == "restates" and holds and other_span.end is not None:
                    span.end_at(other_span.end, fact.index, other_span.end_reason or "")
                if kind in ("contradicts", "restates") and holds:
                    why = "restated" if kind == "restates" else "superseded by"
                    other_span.end_at(when, fact.index, f"{why}: {span.text}")
            else:  # the other one is newer: this fact held only until it began
                why = "superseded by newer fact" if kind == "contradicts" else "restated later"
                span.end_at(other_span.start, fact.index, f"{why}: {other_span.text}")

    for span in [*spans.values(), *created]:
        if span.fact is not None:
            assert span.fact is not None
            plan.added.append(
                Added(
                    span.fact,
                    span.text,
                    span.start,
                    span.end,
                    "new information" if span.updated_by is None else span.update_reason,
                    span.end_reason,
                    span.ended_by,
                )
            )
        elif span.updated_by is not None:
            assert span.memory_id is not None
            plan.updated.append(
                Updated(
                    span.updated_by,
                    span.memory_id,
                    span.text,
                    span.start,
                    span.end,
                    span.update_reason,
                    span.end_reason,
                    span.ended_by,
                )
            )
        elif span.end != span.stored_end and span.end is not None:
            assert span.memory_id is not None and span.ended_by is not None
            plan.ended.append(
                Ended(span.ended_by, span.memory_id, span.end, span.end_reason or "superseded")
            )
    return plan


def _target(
    rel: Relation, spans: dict[str, _Span], alias: dict[int, _Span], done: set[int]
) -> _Span | None:
    if rel.memory_id is not None:
        return spans.get(rel.memory_id)
    if rel.other_fact is not None and rel.other_fact in done:
        return alias.get(rel.other_fact)
    return None

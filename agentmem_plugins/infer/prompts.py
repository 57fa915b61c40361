"""Prompts of intelligent mode, and mapping the answers back to typed operations.

Pure functions, no I/O: the pipeline builds messages here, sends them with
:func:`agentmem_plugins.llms.call_json` and maps the validated answer with
:func:`map_decisions`::

    prompt = build_decision_messages(facts, neighbours)
    answer = await call_json(llm, prompt.messages, schema=DecisionAnswer, ...)
    ops = map_decisions(answer, prompt.id_map, facts)

Every user prompt carries its input as one JSON object between ``<agentmem:input>`` and
``</agentmem:input>``: readable for a model, and parsed back by the rule-based test model
(:func:`parse_input_block`) so both agree on one format.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .._types import Message
from ..llms._protocol import ChatMessage
from .schema import (
    AddOp,
    Decision,
    DecisionAnswer,
    ExtractedFact,
    InvalidateOp,
    MemoryOp,
    NoneOp,
    UpdateOp,
)

__all__ = [
    "DECISION_SYSTEM_PROMPT",
    "EXTRACTION_SYSTEM_PROMPT",
    "INPUT_END",
    "INPUT_START",
    "DecisionPrompt",
    "build_decision_messages",
    "build_extraction_messages",
    "map_decisions",
    "parse_input_block",
]

logger = logging.getLogger("agentmem_plugins")

INPUT_START = "<agentmem:input>"
INPUT_END = "</agentmem:input>"

EXTRACTION_SYSTEM_PROMPT = """\
You extract durable facts worth remembering from a conversation, for the long-term memory \
of an AI assistant.

The input is a JSON object between <agentmem:input> tags: "messages" are the new messages \
(role, content, observed_at = when it was said); "context" holds earlier messages, for \
understanding only: never extract a fact that appears only in the context.

Rules:
- Extract facts about the user: identity, preferences, relationships, plans, habits, \
work, health, possessions, events in their life, and anything they ask you to remember.
- Use assistant messages only to understand the user's (e.g. a question the user answers); \
never store the assistant's own suggestions as facts.
- One fact per item: short, self-contained, third person without a subject, e.g. \
"Name is Bob", "Lives in Berlin", "Is allergic to peanuts", "Prefers window seats".
- Resolve relative dates ("yesterday", "last Monday", "3 days ago") against the observed_at \
of the message they appear in and write absolute dates as YYYY-MM-DD: "I moved yesterday" \
said on 2024-05-02 gives "Moved on 2024-05-01".
- Set each fact's observed_at to the observed_at of the message it came from.
- When the new messages state the same single-valued thing more than once (where the user \
lives, their manager, a favourite), keep only the latest statement: it replaces the earlier.
- Skip greetings, small talk, questions and anything not worth remembering.
- Write facts in the language the user writes in.

Answer with one JSON object and nothing else:
{"facts": [{"text": "...", "observed_at": "..."}]}
With nothing worth remembering, answer {"facts": []}."""

DECISION_SYSTEM_PROMPT = """\
You keep the long-term memory of an AI assistant consistent. You get new facts and the \
existing memories most similar to them, and decide what to do with every new fact.

The input is a JSON object between <agentmem:input> tags: "facts" are the new facts \
(index, text, observed_at); "memories" are existing memories (a short id, text, \
observed_at when known).

Actions:
- "add": the fact is new information. "target" is null.
- "update": the fact refines or extends memory "target" without contradicting it; "text" \
is the merged memory ("Likes tea" + new "Likes green tea" gives "Likes green tea").
- "invalidate": the fact contradicts memory "target", which no longer holds ("Lives in \
Paris" vs new "Lives in Berlin"). The old memory is kept as history and the fact is \
added as "text". One decision per contradicted memory.
- "none": the fact is already in memory ("target" = that memory) or not worth storing.

Give at least one decision for every fact. Use only ids listed in "memories"; never \
invent one. When facts conflict, the later observation wins. "text" is the text to store \
(for add, update, invalidate); "reason" says why in a few words.

Answer with one JSON object and nothing else:
{"decisions": [{"fact": 0, "action": "add", "target": null, "text": "...", "reason": "..."}]}"""


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="minutes") if value is not None else None


def _as_message(item: Message | Mapping[str, Any] | str) -> Message:
    if isinstance(item, Message):
        return item
    if isinstance(item, str):
        return Message(role="user", content=item)
    return Message.model_validate(dict(item))


def _block(payload: Mapping[str, Any]) -> str:
    return f"{INPUT_START}\n{json.dumps(payload, ensure_ascii=False)}\n{INPUT_END}"


def parse_input_block(messages: Sequence[ChatMessage]) -> dict[str, Any] | None:
    """The JSON input object of the last user message that has one, else ``None``.

    Re-ask turns appended after it carry no block, so the original input is found.
    """
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content") or ""
        start = content.find(INPUT_START)
        end = content.rfind(INPUT_END)
        if start == -1 or end < start:
            continue
        try:
            payload = json.loads(content[start + len(INPUT_START) : end])
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None
    return None


def build_extraction_messages(
    messages: Iterable[Message | Mapping[str, Any] | str],
    *,
    context: Iterable[Message | Mapping[str, Any] | str] = (),
    now: datetime | None = None,
    instructions: str | None = None,
) -> list[ChatMessage]:
    """The fact-extraction conversation for ``messages``.

    ``context`` is a little recent conversation (already processed) shown for reference;
    ``now`` stands in for a message's missing ``observed_at`` (default: the current local
    time); ``instructions`` (``MemoryConfig.extraction_instructions``) are appended to the
    system prompt and take precedence over its rules. Answer schema:
    :class:`~agentmem_plugins.infer.schema.ExtractionAnswer`.
    """
    now = now or datetime.now().astimezone()
    new: list[dict[str, Any]] = []
    for item in messages:
        msg = _as_message(item)
        entry: dict[str, Any] = {"role": msg.role, "content": msg.content}
        if msg.name:
            entry["name"] = msg.name
        when = msg.observed_at or now
        entry["observed_at"] = _when(when)
        entry["weekday"] = when.strftime("%A")
        new.append(entry)
    ctx = [{"role": m.role, "content": m.content} for m in map(_as_message, context)]
    system = EXTRACTION_SYSTEM_PROMPT
    if instructions and instructions.strip():
        system += (
            "\n\nAdditional instructions (they take precedence over the rules above):\n"
            + instructions.strip()
        )
    payload = {"task": "extract_facts", "context": ctx, "messages": new}
    user = "Extract the facts worth remembering from the new messages.\n" + _block(payload)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class DecisionPrompt:
    """The decision conversation and ``id_map``: prompt id ``str(i)`` is ``id_map[i]``."""

    messages: list[ChatMessage]
    id_map: list[str]


def _attr(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def build_decision_messages(
    facts: Sequence[ExtractedFact | str],
    memories: Iterable[Any],
    *,
    now: datetime | None = None,
) -> DecisionPrompt:
    """The update-decision conversation: new ``facts`` against existing ``memories``.

    ``memories`` are the retrieved neighbours of all facts (anything with ``id`` and
    ``text``, e.g. :class:`~agentmem_plugins.MemoryItem`, or mappings); duplicates by id
    are shown once. They appear under ids "0", "1", ... in order; real ids never reach
    the model. ``now`` stands in for a fact's missing ``observed_at``. Answer schema:
    :class:`~agentmem_plugins.infer.schema.DecisionAnswer`.
    """
    now = now or datetime.now().astimezone()
    fact_rows = []
    for i, fact in enumerate(facts):
        f = ExtractedFact(text=fact) if isinstance(fact, str) else fact
        fact_rows.append({"index": i, "text": f.text, "observed_at": _when(f.observed_at or now)})
    id_map: list[str] = []
    seen: set[str] = set()
    memory_rows = []
    for memory in memories:
        real_id = str(_attr(memory, "id"))
        if real_id in seen:
            continue
        seen.add(real_id)
        row: dict[str, Any] = {"id": str(len(id_map)), "text": _attr(memory, "text")}
        when = _attr(memory, "observed_at") or _attr(memory, "created_at")
        if isinstance(when, datetime):
            row["observed_at"] = _when(when)
        id_map.append(real_id)
        memory_rows.append(row)
    payload = {"task": "decide", "facts": fact_rows, "memories": memory_rows}
    user = "Decide what to do with each new fact.\n" + _block(payload)
    messages: list[ChatMessage] = [
        {"role": "system", "content": DECISION_SYSTEM_PROMPT},
        {"role": "user", "content": user},
    ]
    return DecisionPrompt(messages=messages, id_map=id_map)


def map_decisions(
    decisions: DecisionAnswer | Sequence[Decision],
    id_map: Sequence[str],
    facts: Sequence[ExtractedFact | str],
    *,
    unmatched: str = "add",
) -> list[MemoryOp]:
    """Turn the model's decisions into typed operations on real memory ids.

    Never trusts the model: a decision is dropped (and logged as a warning on the
    ``agentmem_plugins`` logger) when its fact index is unknown, when an update or
    invalidate names no target or an id outside ``id_map`` (a ``none`` with an unknown
    target is dropped too), or when its target was already updated or invalidated by an
    earlier decision of this answer. A fact left with no valid decision is added when
    ``unmatched="add"`` (the default: nothing silently lost) or skipped with
    ``unmatched="skip"``.

    Result, grouped by fact in fact order: ``UpdateOp``\\ s, then ``InvalidateOp``\\ s, then
    at most one ``AddOp`` (an invalidation implies adding the fact, unless the same fact
    also updated a memory), or a single ``NoneOp``.
    """
    if unmatched not in ("add", "skip"):
        raise ValueError("unmatched must be 'add' or 'skip'")
    items = decisions.decisions if isinstance(decisions, DecisionAnswer) else decisions
    fact_list = [ExtractedFact(text=f) if isinstance(f, str) else f for f in facts]
    per_fact: list[list[Decision]] = [[] for _ in fact_list]
    touched: set[int] = set()  # prompt ids already updated or invalidated
    updated_facts: set[int] = set()

    for d in items:
        if not 0 <= d.fact < len(fact_list):
            logger.warning("LLM decision for unknown fact %r dropped: %s", d.fact, d.action)
            continue
        if d.target is not None and not 0 <= d.target < len(id_map):
            logger.warning(
                "LLM decision with unknown memory id %r dropped (fact %d, %s)",
                d.target,
                d.fact,
                d.action,
            )
            continue
        if d.action == "update" and d.fact in updated_facts:
            logger.warning("LLM second update for fact %d dropped (target %s)", d.fact, d.target)
            continue
        if d.action in ("update", "invalidate"):
            if d.target is None:
                logger.warning("LLM %s without a target dropped (fact %d)", d.action, d.fact)
                continue
            if d.target in touched:
                logger.warning(
                    "LLM %s of memory %d dropped: already changed by an earlier decision",
                    d.action,
                    d.target,
                )
                continue
            touched.add(d.target)
            if d.action == "update":
                updated_facts.add(d.fact)
        per_fact[d.fact].append(d)

    ops: list[MemoryOp] = []
    for index, (fact, ds) in enumerate(zip(fact_list, per_fact, strict=True)):
        when = fact.observed_at
        updates = [d for d in ds if d.action == "update"]
        invalidates = [d for d in ds if d.action == "invalidate"]
        adds = [d for d in ds if d.action == "add"]
        nones = [d for d in ds if d.action == "none"]
        for d in updates:
            text = d.text or fact.text
            ops.append(UpdateOp(index, id_map[d.target], text, when, d.reason))  # type: ignore[index]
        for d in invalidates:
            ops.append(InvalidateOp(index, id_map[d.target], when, d.reason))  # type: ignore[index]
        if (adds or invalidates) and not updates:
            source = (invalidates or adds)[0]
            ops.append(AddOp(index, source.text or fact.text, when, source.reason))
        if updates or invalidates or adds:
            continue
        if nones:
            d = nones[0]
            target = id_map[d.target] if d.target is not None else None
            ops.append(NoneOp(index, target, d.reason))
        elif unmatched == "add":
            logger.info("LLM gave no valid decision for fact %d; adding it", index)
            ops.append(AddOp(index, fact.text, when, "no decision from the model"))
    return ops

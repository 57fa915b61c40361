"""Prompts of intelligent mode, and mapping the answers back to typed operations.

Pure functions, no I/O: the pipeline builds messages here, sends them with
:func:`agentmem_plugins.llms.call_json` and maps the validated answer with
:func:`map_relations`. The common path is one call that extracts and decides::

    prompt = build_extract_decide_messages(messages, neighbours_of_the_messages)
    answer = await call_json(llm, prompt.messages, schema=ExtractDecideAnswer, ...)
    relations = map_relations(answer.decisions, prompt.id_map, answer.facts)

and the decision alone is asked when a fact's own neighbours were not shown::

    prompt = build_decision_messages(facts, neighbours)
    answer = await call_json(llm, prompt.messages, schema=DecisionAnswer, ...)
    relations = map_relations(answer, prompt.id_map, facts)

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

from .._errors import InvalidInputError
from .._types import Message
from ..llms._protocol import ChatMessage
from .schema import Decision, DecisionAnswer, ExtractedFact
from .timeline import Relation

__all__ = [
    "DECISION_SYSTEM_PROMPT",
    "EXTRACTION_SYSTEM_PROMPT",
    "INPUT_END",
    "INPUT_START",
    "EXTRACT_DECIDE_SYSTEM_PROMPT",
    "DecisionPrompt",
    "build_decision_messages",
    "build_extract_decide_messages",
    "build_extraction_messages",
    "map_relations",
    "parse_input_block",
]

logger = logging.getLogger("agentmem_plugins")

INPUT_START = "<agentmem:input>"
INPUT_END = "</agentmem:input>"

_FACT_RULES = """\
- Extract facts about the user: identity, preferences, relationships, plans, habits, \
work, health, possessions, events in their life, and anything they ask you to remember.
- Use assistant messages only to understand the user's (e.g. a question the user answers); \
never store the assistant's own suggestions as facts.
- One fact per item: short, self-contained, third person without a subject, e.g. \
"Name is Bob", "Lives in Berlin", "Is allergic to peanuts", "Prefers window seats".
- Resolve relative dates ("yesterday", "last Monday", "3 days ago") against the observed_at \
of the message they appear in and write absolute dates as YYYY-MM-DD: "I moved yesterday" \
said on 2024-05-02 gives "Moved on 2024-05-01".
- Set each fact's "message" to the index of the message it came from, and its observed_at \
to that message's observed_at. When the message says since when the fact holds ("I have \
lived in Porto since March"), give that date as "valid_from".
- One fact per statement, in the order stated: when the new messages state the same \
single-valued thing more than once (where the user lives, their manager, a favourite), \
extract every statement with its own message index, also the earlier ones; the memory \
orders them by time and keeps the earlier values as history.
- Skip greetings, small talk, questions and anything not worth remembering.
- Write facts in the language the user writes in."""

_DECISION_RULES = """\
Time decides which fact holds: a fact holds from its observed_at until a newer fact \
contradicts it. New facts may be older than memories (messages can arrive late), and \
several new facts may be about the same thing.

Actions:
- "add": the fact is new information. "target" is null.
- "update": the fact refines or extends memory "target", which still holds, without \
contradicting it; "text" is the merged memory ("Likes tea" + new "Likes green tea" gives \
"Likes green tea").
- "invalidate": the fact contradicts memory "target" and is newer (a later observed_at): \
the memory stops holding then and is kept as history; the fact is added as "text" \
("Lives in Paris" in January vs new "Lives in Berlin" in June).
- "outdated": the fact contradicts memory "target" but is older: the fact is kept as \
history, ending when the memory began; the memory stays.
- "none": the fact is already in memory ("target" = that memory) or not worth storing.

One decision per related memory. When two new facts are about the same thing, relate \
the later-listed one to the other with "target_fact" (its index) instead of "target": \
"invalidate" or "outdated" when they contradict, "none" when they say the same. \
Give at least one decision for every fact. Use only ids listed in "memories" and indexes \
listed in "facts"; never invent one. "text" is the text to store (for add, update, \
invalidate, outdated); "reason" says why in a few words."""

EXTRACTION_SYSTEM_PROMPT = (
    """\
You extract durable facts worth remembering from a conversation, for the long-term memory \
of an AI assistant.

The input is a JSON object between <agentmem:input> tags: "messages" are the new messages \
(index, role, content, observed_at = when it was said); "context" holds earlier messages, \
for understanding only: never extract a fact that appears only in the context.

Rules:
"""
    + _FACT_RULES
    + """

Answer with one JSON object and nothing else:
{"facts": [{"text": "...", "message": 0, "observed_at": "..."}]}
With nothing worth remembering, answer {"facts": []}."""
)

DECISION_SYSTEM_PROMPT = (
    """\
You keep the long-term memory of an AI assistant consistent. You get new facts and the \
existing memories most similar to them, and decide what to do with every new fact.

The input is a JSON object between <agentmem:input> tags: "facts" are the new facts \
(index, text, observed_at = since when it holds); "memories" are existing memories (a \
short id, text, observed_at = since when it holds, valid_to = when it stopped holding, \
null while it still holds).

"""
    + _DECISION_RULES
    + """

Answer with one JSON object and nothing else:
{"decisions": [{"fact": 0, "action": "add", "target": null, "target_fact": null, \
"text": "...", "reason": "..."}]}"""
)

EXTRACT_DECIDE_SYSTEM_PROMPT = (
    """\
You keep the long-term memory of an AI assistant. Extract the durable facts worth \
remembering from new messages of a conversation, and decide at once how each relates to \
the existing memories and to the other new facts.

The input is a JSON object between <agentmem:input> tags: "messages" are the new messages \
(index, role, content, observed_at = when it was said); "context" holds earlier messages, \
for understanding only: never extract a fact that appears only in the context; \
"memories" are the existing memories most similar to the new messages (a short id, text, \
observed_at = since when it holds, valid_to = when it stopped holding, null while it \
still holds).

Facts (the "facts" list; a fact's index is its position in that list, from 0):
"""
    + _FACT_RULES
    + """

Decisions (the "decisions" list, about the facts you extracted):
"""
    + _DECISION_RULES
    + """

Answer with one JSON object and nothing else:
{"facts": [{"text": "...", "message": 0, "observed_at": "..."}], "decisions": [{"fact": 0, \
"action": "add", "target": null, "target_fact": null, "text": "...", "reason": "..."}]}
With nothing worth remembering, answer {"facts": [], "decisions": []}."""
)


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


def _message_rows(
    messages: Iterable[Message | Mapping[str, Any] | str], now: datetime
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(messages):
        msg = _as_message(item)
        entry: dict[str, Any] = {"index": index, "role": msg.role, "content": msg.content}
        if msg.name:
            entry["name"] = msg.name
        when = msg.observed_at or now
        entry["observed_at"] = _when(when)
        entry["weekday"] = when.strftime("%A")
        rows.append(entry)
    return rows


def _context_rows(context: Iterable[Message | Mapping[str, Any] | str]) -> list[dict[str, Any]]:
    return [{"role": m.role, "content": m.content} for m in map(_as_message, context)]


def _with_instructions(system: str, instructions: str | None) -> str:
    if instructions and instructions.strip():
        system += (
            "\n\nAdditional instructions (they take precedence over the rules above):\n"
            + instructions.strip()
        )
    return system


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
    new, ctx = _message_rows(messages, now), _context_rows(context)
    system = _with_instructions(EXTRACTION_SYSTEM_PROMPT, instructions)
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


def _memory_rows(memories: Iterable[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for the prompt under ids "0", "1", ... (duplicates by id once), and the real
    id of each."""
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
        ended = _attr(memory, "invalid_at")
        row["valid_to"] = _when(ended) if isinstance(ended, datetime) else None
        id_map.append(real_id)
        memory_rows.append(row)
    return memory_rows, id_map


def build_decision_messages(
    facts: Sequence[ExtractedFact | str],
    memories: Iterable[Any],
    *,
    now: datetime | None = None,
) -> DecisionPrompt:
    """The update-decision conversation: new ``facts`` against existing ``memories``.

    ``memories`` are the retrieved neighbours of all facts (anything with ``id`` and
    ``text``, e.g. :class:`~agentmem_plugins.MemoryItem`, or mappings); duplicates by id
    are shown once, with their valid time (``observed_at``, else ``created_at``) and
    ``invalid_at`` as ``valid_to``. They appear under ids "0", "1", ... in order; real ids
    never reach the model. A fact's ``valid_from``, else ``observed_at``, else ``now`` is
    its time. Answer schema:
    :class:`~agentmem_plugins.infer.schema.DecisionAnswer`.
    """
    now = now or datetime.now().astimezone()
    fact_rows = []
    for i, fact in enumerate(facts):
        f = ExtractedFact(text=fact) if isinstance(fact, str) else fact
        when = f.valid_from or f.observed_at or now
        fact_rows.append({"index": i, "text": f.text, "observed_at": _when(when)})
    memory_rows, id_map = _memory_rows(memories)
    payload = {"task": "decide", "facts": fact_rows, "memories": memory_rows}
    user = "Decide what to do with each new fact.\n" + _block(payload)
    messages: list[ChatMessage] = [
        {"role": "system", "content": DECISION_SYSTEM_PROMPT},
        {"role": "user", "content": user},
    ]
    return DecisionPrompt(messages=messages, id_map=id_map)


def build_extract_decide_messages(
    messages: Iterable[Message | Mapping[str, Any] | str],
    memories: Iterable[Any],
    *,
    context: Iterable[Message | Mapping[str, Any] | str] = (),
    now: datetime | None = None,
    instructions: str | None = None,
) -> DecisionPrompt:
    """One conversation for both steps: extract the facts of ``messages`` and relate them
    to ``memories`` (the stored neighbours of the messages) and to each other.

    Messages and ``context`` as in :func:`build_extraction_messages`, memories as in
    :func:`build_decision_messages` (shown under ids "0", "1", ...; ``id_map`` gives the
    real ones). Answer schema: :class:`~agentmem_plugins.infer.schema.ExtractDecideAnswer`,
    whose decisions name facts by their position in its ``facts``.
    """
    now = now or datetime.now().astimezone()
    memory_rows, id_map = _memory_rows(memories)
    payload = {
        "task": "extract_and_decide",
        "context": _context_rows(context),
        "messages": _message_rows(messages, now),
        "memories": memory_rows,
    }
    user = (
        "Extract the facts worth remembering from the new messages and decide what to do "
        "with each.\n" + _block(payload)
    )
    system = _with_instructions(EXTRACT_DECIDE_SYSTEM_PROMPT, instructions)
    messages_out: list[ChatMessage] = [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
    ]
    return DecisionPrompt(messages=messages_out, id_map=id_map)


def map_relations(
    decisions: DecisionAnswer | Sequence[Decision],
    id_map: Sequence[str],
    facts: Sequence[ExtractedFact | str],
    *,
    unmatched: str = "add",
) -> list[Relation]:
    """Turn the model's decisions into :class:`~agentmem_plugins.infer.timeline.Relation`\\ s
    on real memory ids, for :func:`~agentmem_plugins.infer.timeline.reconcile`.

    ``invalidate`` and ``outdated`` both mean "contradicts" (valid time decides which
    one ends), ``update`` "refines", ``none`` with a target "same", ``none`` without one
    "skip", ``add`` a relation without a target. Never trusts the model: a decision is
    dropped (and logged as a warning on the ``agentmem_plugins`` logger) when its fact
    index is unknown, when it names an id outside ``id_map`` or a fact index outside
    ``facts`` (or its own), when an update or contradiction names no target, or when a
    memory is refined twice or a fact refines twice. A fact left with no valid decision
    gets a plain "new information" relation when ``unmatched="add"`` (the default:
    nothing silently lost), or none with ``unmatched="skip"``. Result in fact order.
    """
    if unmatched not in ("add", "skip"):
        raise InvalidInputError(f"unmatched must be 'add' or 'skip', got {unmatched!r}")
    items = decisions.decisions if isinstance(decisions, DecisionAnswer) else decisions
    n_facts = len(facts)
    per_fact: list[list[Relation]] = [[] for _ in range(n_facts)]
    refined: set[int] = set()  # prompt ids refined by an earlier decision
    refining: set[int] = set()  # facts that already refine something
    kinds = {"invalidate": "contradicts", "outdated": "contradicts", "update": "refines"}
    for d in items:
        if not 0 <= d.fact < n_facts:
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
        other = d.target_fact if d.target is None else None
        if other is not None and (not 0 <= other < n_facts or other == d.fact):
            logger.warning(
                "LLM decision with unknown fact index %r dropped (fact %d, %s)",
                other,
                d.fact,
                d.action,
            )
            continue
        memory_id = id_map[d.target] if d.target is not None else None
        targeted = memory_id is not None or other is not None
        if d.action in kinds and not targeted:
            logger.warning("LLM %s without a target dropped (fact %d)", d.action, d.fact)
            continue
        if d.action == "update":
            if d.fact in refining or (d.target is not None and d.target in refined):
                logger.warning(
                    "LLM update of %s dropped: fact %d or its target is already updated",
                    d.target if d.target is not None else f"fact {other}",
                    d.fact,
                )
                continue
            refining.add(d.fact)
            if d.target is not None:
                refined.add(d.target)
        if d.action == "add":
            kind = None
        elif d.action == "none":
            kind = "same" if targeted else "skip"
        else:
            kind = kinds[d.action]
        per_fact[d.fact].append(
            Relation(d.fact, kind, memory_id, other, d.text, d.reason)  # type: ignore[arg-type]
        )
    out: list[Relation] = []
    for index, relations in enumerate(per_fact):
        if not relations and unmatched == "add":
            logger.info("LLM gave no valid decision for fact %d; adding it", index)
            relations = [Relation(index, None, reason="no decision from the model")]
        out.extend(relations)
    return out

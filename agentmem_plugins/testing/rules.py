"""Deterministic, rule-based answers to the prompts of intelligent mode.

One implementation behind both :class:`agentmem_plugins.llms.RuleBasedChatModel` (in
process) and the loopback server (:mod:`agentmem_plugins.testing.llm_server`), so tests,
benchmarks and notebooks see the same "model". It reads the JSON input block the prompts
embed (:func:`agentmem_plugins.infer.prompts.parse_input_block`), never the prose.

Extraction: user messages are split into sentences; first-person statements become short
third-person facts ("I live in Paris" -> "Lives in Paris", "My name is Bob" -> "Name is
Bob", "I'm vegetarian" -> "Is vegetarian"), with relative dates resolved against the
message's ``observed_at`` ("I moved to Berlin yesterday" said on 2024-05-02 -> "Moved to
Berlin on 2024-05-01"). Questions and other sentences are skipped.

Decision, for each fact against the numbered memories:

1. same normalised text (case, punctuation, articles, word order) -> ``none``;
2. an existing memory's words are a strict subset of the fact's, same leading word
   ("Likes tea" -> "Likes green tea") -> ``update`` it;
3. the fact's words are a strict subset of a memory's -> ``none`` (already known);
4. same subject key ("lives in", "works at", "name is", "favourite colour is": a verb and
   a preposition, or words up to "is"/"are") with another value, or the same statement
   negated ("Likes tea" / "Does not like tea") -> ``invalidate`` each such memory when
   the fact is newer in valid time, ``outdated`` when it is older (the memory's
   ``observed_at`` is later);
5. otherwise ``add``.

The facts of one prompt are compared with each other the same way (``target_fact``).

The one-call prompt (``extract_and_decide``) gets both: the facts as extraction gives
them, then each decided as above against the memories shown, at its message's time.

Mem0's prompts get the same rules in Mem0's own JSON formats:
:mod:`agentmem_plugins.testing.mem0_rules`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from .._time import naive_utc
from ..infer.dates import resolve_relative_dates
from ..infer.prompts import parse_input_block
from ..infer.schema import parse_when
from ..llms._protocol import ChatMessage

__all__ = [
    "answer",
    "decide",
    "extract_and_decide",
    "extract_facts",
    "fact_from_sentence",
    "normalise",
    "split_sentences",
    "subject_key",
]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_LEAD_IN = re.compile(
    r"^(?:(?:hi|hello|hey|well|oh|ok|okay|so|also|and|but|btw|by the way|actually|yes|yeah|"
    r"no|anyway|oh and|fyi)\b[,!]?\s+)+",
    re.IGNORECASE,
)
_LEADING_DATE = re.compile(
    r"^(?P<prep>on|in|since|during)\s+(?P<when>the week of \d{4}-\d{2}-\d{2}|\d{4}(?:-\d{2}){0,2})"
    r",?\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_ADVERBS = {
    "really", "also", "usually", "always", "never", "often", "sometimes", "still", "just",
    "only", "actually", "mostly", "absolutely", "totally", "recently", "finally", "now",
    "currently", "definitely", "rarely", "generally", "truly", "honestly",
}  # fmt: skip
_PAST = {
    "went", "was", "were", "had", "got", "bought", "met", "saw", "made", "took", "gave",
    "came", "left", "lost", "found", "ran", "ate", "drank", "wrote", "began", "became",
    "felt", "kept", "sold", "sent", "spent", "thought", "told", "said", "knew", "grew",
    "flew", "drove", "broke", "chose", "forgot", "won", "wore", "built", "taught", "caught",
    "fell", "heard", "held", "paid", "put", "quit", "set", "sat", "slept", "stood",
    "understood", "fought", "brought", "did", "swam", "sang", "spoke", "stole", "threw",
}  # fmt: skip
_THIRD_PERSON = {"have": "has", "do": "does", "go": "goes", "be": "is", "am": "is"}
_SMALL_TALK = re.compile(
    r"^(?:is (?:fine|good|ok|okay|great|well|here|back|sorry|not sure|glad|happy|done|ready)"
    r"|thinks?|guess(?:es)?|wonders?|means?|sees?|agrees?|understands?|hopes?|"
    r"wants? to know|would like to know|is wondering|appreciates?|thanks?)\b",
    re.IGNORECASE,
)
_MODALS = {
    "can", "could", "should", "must", "might", "may", "would", "will", "shall", "used",
}  # fmt: skip
_KEY_PREPS = {"in", "at", "for", "as", "from"}
_COPULAS = {"is", "are"}
_ARTICLES = {"a", "an", "the"}


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (on ``.``, ``!``, ``?`` followed by space, and newlines)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _third_person(verb: str) -> str:
    v = verb.lower()
    if v in _THIRD_PERSON:
        return _THIRD_PERSON[v]
    if v.endswith("ed") or v in _PAST:
        return v
    if re.search(r"[^aeiou]y$", v):
        return v[:-1] + "ies"
    if v.endswith(("s", "sh", "ch", "x", "z", "o")):
        return v + "es"
    return v + "s"


def _pronouns(rest: str) -> str:
    rest = re.sub(r"\bmyself\b", "themselves", rest, flags=re.IGNORECASE)
    rest = re.sub(r"\bmy\b", "their", rest, flags=re.IGNORECASE)
    rest = re.sub(r"\bmine\b", "theirs", rest, flags=re.IGNORECASE)
    rest = re.sub(r"\bme\b", "them", rest, flags=re.IGNORECASE)
    rest = re.sub(r"\bI'm\b", "they are", rest)
    return re.sub(r"\bI\b", "they", rest)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _rewrite(s: str) -> str | None:
    low = s.lower()
    m = re.match(r"(?:my name is|i'm called|i am called|i'm named|call me)\s+(.+)$", s, re.I)
    if m:
        return "Name is " + m.group(1)
    if low.startswith("my "):
        return _cap(_pronouns(s[3:]))
    table = [
        (r"(?:i'm|i am|im)\s+", "Is "),
        (r"(?:i've|i have)\s+", "Has "),
        (r"(?:i'll|i will)\s+", "Will "),
        (r"(?:i'd)\s+", "Would "),
        (r"i\s+(?:don't|do not|dont)\s+", "Does not "),
        (r"i\s+(?:didn't|did not|didnt)\s+", "Did not "),
        (r"i\s+(?:can't|cannot|can not|cant)\s+", "Cannot "),
        (r"i\s+(?:won't|will not)\s+", "Will not "),
        (r"i\s+was\s+", "Was "),
    ]
    for pattern, prefix in table:
        m = re.match(pattern, s, re.IGNORECASE)
        if m:
            return prefix + _pronouns(s[m.end() :])
    m = re.match(r"i\s+(\w+)\s*(.*)$", s, re.IGNORECASE)
    if not m:
        return None
    words = [m.group(1)]
    rest = m.group(2)
    while words[-1].lower() in _ADVERBS and rest:
        nxt = re.match(r"(\w+)\s*(.*)$", rest)
        if not nxt:
            break
        words.append(nxt.group(1))
        rest = nxt.group(2)
    verb = words[-1].lower()
    verb = verb if verb in _MODALS else _third_person(verb)
    head = " ".join([*(w.lower() for w in words[:-1]), verb])
    return _cap(f"{head} {_pronouns(rest)}".strip())


def fact_from_sentence(sentence: str, observed_at: Any = None) -> str | None:
    """The fact a first-person sentence states, or ``None`` (question, small talk, ...)."""
    s = sentence.strip().replace("\u2019", "'")
    if not s or s.endswith("?"):
        return None
    s = s.rstrip(".!;: ")
    when = parse_when(observed_at) if not hasattr(observed_at, "year") else observed_at
    s = resolve_relative_dates(s, when)
    s = _LEAD_IN.sub("", s).strip()
    m = _LEADING_DATE.match(s)
    if m:  # "On 2024-05-01 I went to Rome" -> "I went to Rome on 2024-05-01"
        s = f"{m['rest']} {m['prep'].lower()} {m['when']}"
    fact = _rewrite(s)
    if fact:  # "I live in Berlin now" -> "Lives in Berlin"
        fact = re.sub(r"\s+(?:now|nowadays|these days|currently)$", "", fact, flags=re.I)
    if not fact or len(fact.split()) < 2 or _SMALL_TALK.match(fact):
        return None
    return fact


def extract_facts(payload: dict[str, Any]) -> dict[str, Any]:
    """``{"facts": [...]}`` for an extraction input block (user messages only).

    One fact per statement, in the order stated, each with the index and time of its
    message (as the extraction prompt asks): a relation stated twice with different
    values gives both facts, and the memory orders them by time. A fact repeated within
    one message is given once.
    """
    facts: list[dict[str, Any]] = []
    for position, message in enumerate(payload.get("messages") or []):
        if not isinstance(message, dict) or message.get("role", "user") != "user":
            continue
        observed_at = message.get("observed_at")
        index = message.get("index", position)
        seen: set[str] = set()
        for sentence in split_sentences(str(message.get("content") or "")):
            fact = fact_from_sentence(sentence, observed_at)
            if fact is None or normalise(fact) in seen:
                continue
            seen.add(normalise(fact))
            item: dict[str, Any] = {"text": fact, "message": index}
            if observed_at:
                item["observed_at"] = observed_at
            facts.append(item)
    return {"facts": facts}


def normalise(text: str) -> str:
    """Lower case, no punctuation (dates kept), no articles, single spaces."""
    words = re.sub(r"[^\w\s-]", " ", text.lower()).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def _positive(norm: str) -> tuple[str, bool]:
    """``("likes tea", False)`` for "does not like tea"; ``(norm, True)`` otherwise."""
    m = re.match(r"(does not|did not|is not|cannot|will not) (\w+)(.*)$", norm)
    if not m:
        return norm, True
    aux, verb, rest = m.groups()
    if aux == "does not":
        return f"{_third_person(verb)}{rest}", False
    positive = {"did not": verb, "is not": f"is {verb}", "cannot": f"can {verb}"}.get(
        aux, f"will {verb}"
    )
    return f"{positive}{rest}", False


def subject_key(text: str) -> str | None:
    """The single-valued relation a fact states ("lives in", "name is"), if any."""
    words = _positive(normalise(text))[0].split()
    if len(words) >= 3 and words[1] in _KEY_PREPS:
        return " ".join(words[:2])
    for i, word in enumerate(words[:5]):
        if word in _COPULAS and 0 < i < len(words) - 1:
            return " ".join(words[: i + 1])
    return None


def _relation(text: str, other: str) -> tuple[str, str] | None:
    """How fact ``text`` relates to ``other`` (rules 1-4 of the module doc), or ``None``."""
    norm, onorm = normalise(text), normalise(other)
    if onorm == norm or sorted(onorm.split()) == sorted(norm.split()):
        return "same", "same fact already stored"
    tokens, otokens = set(norm.split()), set(onorm.split())
    if otokens < tokens and onorm.split()[:1] == norm.split()[:1]:
        return "refines", "adds detail to the stored fact"
    if tokens < otokens:
        return "same", "already known in more detail"
    (pos, polarity), (opos, opolarity) = _positive(norm), _positive(onorm)
    key = subject_key(text)
    if (key is not None and subject_key(other) == key) or (pos == opos and polarity != opolarity):
        return "contradicts", ""
    return None


def _contradiction(text: str, when: Any, other_when: Any) -> tuple[str, str]:
    """``invalidate`` when the fact is at least as new as the other one, else ``outdated``
    (the valid-time rule: only a newer fact ends an older one)."""
    mine, theirs = parse_when(when), parse_when(other_when)
    if mine is not None and theirs is not None and naive_utc(mine) < naive_utc(theirs):
        return "outdated", f"older than the stored fact: {text}"
    return "invalidate", f"contradicted by newer fact: {text}"


def decide(payload: dict[str, Any]) -> dict[str, Any]:
    """``{"decisions": [...]}`` for a decision input block (rules in the module doc).

    Each fact is compared with every memory and with the facts listed before it
    (``target_fact``); a contradiction says ``invalidate`` when the fact is the newer of
    the two and ``outdated`` when it is older; only a memory that still holds
    (``valid_to`` null) is updated.
    """
    memories = [m for m in payload.get("memories") or [] if isinstance(m, dict)]
    facts = [f for f in payload.get("facts") or [] if isinstance(f, dict)]
    claimed: set[str] = set()
    decisions: list[dict[str, Any]] = []
    for position, fact in enumerate(facts):
        index, text = fact.get("index"), str(fact.get("text") or "")
        when = fact.get("observed_at")
        found: list[dict[str, Any]] = []
        others = [("target", str(m.get("id")), m) for m in memories]
        others += [("target_fact", str(f.get("index")), f) for f in facts[:position]]
        for field_name, other_id, other in others:
            relation = _relation(text, str(other.get("text") or ""))
            if relation is None:
                continue
            kind, reason = relation
            current = field_name == "target_fact" or other.get("valid_to") is None
            if kind == "refines":
                if field_name == "target" and (other_id in claimed or not current):
                    continue
                claimed.add(other_id)
                action = "update"
            elif kind == "same":
                action = "none"
            else:
                action, reason = _contradiction(text, when, other.get("observed_at"))
            found.append(
                {
                    "fact": index,
                    "action": action,
                    field_name: int(other_id),
                    "text": text,
                    "reason": reason,
                }
            )
        decisions.extend(found)
        if not found:
            decisions.append(
                {"fact": index, "action": "add", "text": text, "reason": "new information"}
            )
    return {"decisions": decisions}


def extract_and_decide(payload: dict[str, Any]) -> dict[str, Any]:
    """``{"facts": [...], "decisions": [...]}`` for a one-call input block: the facts as
    :func:`extract_facts` gives them, each decided (:func:`decide`) against the memories
    shown and the facts listed before it, at its message's ``observed_at``."""
    facts = extract_facts(payload)["facts"]
    rows = [
        {"index": i, "text": f["text"], "observed_at": f.get("observed_at")}
        for i, f in enumerate(facts)
    ]
    memories = payload.get("memories") or []
    return {"facts": facts, **decide({"facts": rows, "memories": memories})}


def answer(messages: Sequence[ChatMessage], *, json_mode: bool = False) -> str:
    """The rule-based model's reply to a chat conversation, as text.

    Our extraction and decision prompts get their JSON answer, and so do Mem0's
    (:func:`mem0_task`); anything else gets ``{}`` in JSON mode and a short plain-text
    reply otherwise.
    """
    from .mem0_rules import mem0_additive, mem0_fact_retrieval, mem0_task, mem0_update

    payload = parse_input_block(messages)
    task = payload.get("task") if payload else None
    if task == "extract_facts":
        result: dict[str, Any] = extract_facts(payload)  # type: ignore[arg-type]
    elif task == "decide":
        result = decide(payload)  # type: ignore[arg-type]
    elif task == "extract_and_decide":
        result = extract_and_decide(payload)  # type: ignore[arg-type]
    elif (mem0 := mem0_task(messages)) == "mem0_extract":
        result = mem0_additive(messages)
    elif mem0 == "mem0_facts":
        result = mem0_fact_retrieval(messages)
    elif mem0 == "mem0_update":
        result = mem0_update(messages)
    else:
        return "{}" if json_mode else "OK"
    return json.dumps(result, ensure_ascii=False)

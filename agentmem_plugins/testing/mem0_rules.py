"""Rule-based answers to Mem0's prompts, for benchmarks that point Mem0 at the loopback
server: the same extraction and decision rules as :mod:`agentmem_plugins.testing.rules`,
in Mem0's own JSON formats (:func:`mem0_task` tells which prompt it is).

Mem0's prompts (for benchmarks that point Mem0 at the loopback server) get the same
extraction and decision rules, answered in Mem0's own JSON formats (:func:`mem0_task`):

* Mem0 2.x additive extraction (``ADDITIVE_EXTRACTION_PROMPT`` with the ``## New
  Messages`` / ``## Existing Memories`` / ``## Observation Date`` user prompt): the facts
  of the new user messages, minus those the decision rules call already known
  (``none``) against the listed existing memories, as ``{"memory": [{"id": "0", "text":
  ..., "attributed_to": "user", "linked_memory_ids": [...]}]}``; a fact that would
  update or invalidate a memory is linked to it (Mem0 2.x only adds);
* Mem0 1.x fact retrieval (``Input:`` plus ``role: content`` lines after its
  "Personal Information Organizer" system prompt): ``{"facts": ["...", ...]}``;
* Mem0 1.x update-memory prompt (old memory and new facts in triple backticks): ``{"memory":
  [{"id", "text", "event": "ADD" | "UPDATE" | "DELETE" | "NONE", "old_memory"}]}``,
  where an invalidation becomes ``DELETE`` of the contradicted memory plus ``ADD``.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from typing import Any

from ..llms._protocol import ChatMessage
from .rules import decide, extract_facts

__all__ = ["mem0_additive", "mem0_fact_retrieval", "mem0_task", "mem0_update"]

# --- Mem0's prompts ----------------------------------------------------------------------

_MEM0_ROLE_LINE = re.compile(r"^(user|assistant|system):\s?(.*)$")
_MEM0_SECTION = re.compile(r"^## (.+?)\s*$", re.MULTILINE)
_MEM0_FENCE = re.compile(r"```(.*?)```", re.DOTALL)


def _contents(messages: Sequence[ChatMessage], role: str) -> list[str]:
    return [str(m.get("content") or "") for m in messages if m.get("role") == role]


def mem0_task(messages: Sequence[ChatMessage]) -> str | None:
    """``"mem0_extract"`` (2.x additive), ``"mem0_facts"`` (1.x fact retrieval),
    ``"mem0_update"`` (1.x update memory), or ``None`` when the prompt is not Mem0's."""
    users = _contents(messages, "user")
    if not users:
        return None
    system = " ".join(_contents(messages, "system"))
    last = users[-1]
    if "## New Messages" in last and "## Existing Memories" in last:
        return "mem0_extract"
    if "smart memory manager" in last and "The new retrieved facts" in last:
        return "mem0_update"
    if last.lstrip().startswith("Input:") and "Information Organizer" in system:
        return "mem0_facts"
    return None


def _role_lines(text: str) -> list[dict[str, str]]:
    """Mem0's ``parse_messages`` text (``role: content`` per line) back into messages."""
    out: list[dict[str, str]] = []
    for line in text.splitlines():
        m = _MEM0_ROLE_LINE.match(line)
        if m:
            out.append({"role": m.group(1), "content": m.group(2)})
        elif out and line.strip():
            out[-1]["content"] += "\n" + line
    return out


def _sections(text: str) -> dict[str, str]:
    marks = list(_MEM0_SECTION.finditer(text))
    out = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out[m.group(1).strip().lower()] = text[m.end() : end].strip()
    return out


def _literal(text: str) -> Any:
    """JSON, else a Python literal (Mem0 1.x formats lists with ``str()``), else ``None``."""
    text = text.strip()
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            continue
    return None


def _memory_list(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return []
    return [
        (str(m.get("id")), str(m.get("text") or m.get("memory") or ""))
        for m in value
        if isinstance(m, dict) and m.get("id") is not None
    ]


def _new_messages(text: str) -> list[dict[str, Any]]:
    parsed = _literal(text) if text.lstrip().startswith("[") else None
    if isinstance(parsed, list):
        return [m for m in parsed if isinstance(m, dict)]
    return _role_lines(text)


def _decide_against(facts: list[str], memories: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """:func:`decide` with Mem0's memory ids (any strings) mapped to positions and back."""
    if not memories:
        return [
            {"fact": i, "action": "add", "target": None, "text": t} for i, t in enumerate(facts)
        ]
    payload = {
        "facts": [{"index": i, "text": t} for i, t in enumerate(facts)],
        "memories": [{"id": str(j), "text": text} for j, (_, text) in enumerate(memories)],
    }
    decisions: list[dict[str, Any]] = decide(payload)["decisions"]
    for d in decisions:
        if d.get("target") is not None:
            d["target"] = memories[int(d["target"])][0]
    return decisions


def mem0_additive(messages: Sequence[ChatMessage]) -> dict[str, Any]:
    """Mem0 2.x additive extraction: ``{"memory": [...]}`` (module doc)."""
    sections = _sections(_contents(messages, "user")[-1])
    when = (sections.get("observation date") or "").strip() or None
    new = [
        {"role": m.get("role", "user"), "content": m.get("content"), "observed_at": when}
        for m in _new_messages(sections.get("new messages", ""))
    ]
    facts = [f["text"] for f in extract_facts({"messages": new})["facts"]]
    known = _memory_list(_literal(sections.get("existing memories", "") or "[]"))
    known += _memory_list(_literal(sections.get("recently extracted memories", "") or "[]"))
    links: dict[int, list[str]] = {}
    keep: set[int] = set()
    for d in _decide_against(facts, known):
        if d["action"] == "none":
            continue
        keep.add(d["fact"])
        if d.get("target") is not None:
            links.setdefault(d["fact"], []).append(str(d["target"]))
    out: list[dict[str, Any]] = []
    for i, text in enumerate(facts):
        if i not in keep:
            continue
        item: dict[str, Any] = {"id": str(len(out)), "text": text, "attributed_to": "user"}
        if links.get(i):
            item["linked_memory_ids"] = links[i]
        out.append(item)
    return {"memory": out}


def mem0_fact_retrieval(messages: Sequence[ChatMessage]) -> dict[str, Any]:
    """Mem0 1.x fact retrieval: ``{"facts": ["...", ...]}`` from the user lines."""
    text = _contents(messages, "user")[-1].lstrip()
    text = text[len("Input:") :] if text.startswith("Input:") else text
    facts = extract_facts({"messages": _role_lines(text)})["facts"]
    return {"facts": [f["text"] for f in facts]}


def mem0_update(messages: Sequence[ChatMessage]) -> dict[str, Any]:
    """Mem0 1.x update memory: every old memory with an event, plus the new ones."""
    prompt = _contents(messages, "user")[-1]
    before = prompt.split("The new retrieved facts", 1)[0]
    current = before.split("current content of my memory", 1)
    block = _MEM0_FENCE.search(current[1]) if len(current) == 2 else None
    old = _memory_list(_literal(block.group(1))) if block else []
    after = prompt.split("The new retrieved facts", 1)[1]
    fence = _MEM0_FENCE.search(after)
    raw = _literal(fence.group(1)) if fence else None
    facts = [str(f) for f in raw] if isinstance(raw, list) else []
    events: dict[str, dict[str, Any]] = {
        mid: {"id": mid, "text": text, "event": "NONE"} for mid, text in old
    }
    added: list[dict[str, Any]] = []
    next_id = max((int(m) for m, _ in old if m.isdigit()), default=-1) + 1
    handled: set[int] = set()
    for d in _decide_against(facts, old):
        target = d.get("target")
        if d["action"] == "update" and target in events:
            events[target].update(event="UPDATE", text=d["text"], old_memory=events[target]["text"])
            handled.add(d["fact"])
        elif d["action"] == "invalidate" and target in events:
            events[target]["event"] = "DELETE"
    for d in _decide_against(facts, old):
        if d["action"] in ("add", "invalidate") and d["fact"] not in handled:
            handled.add(d["fact"])
            added.append({"id": str(next_id), "text": d["text"], "event": "ADD"})
            next_id += 1
    return {"memory": [*events.values(), *added]}

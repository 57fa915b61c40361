"""docs/core-api.md is checked against the code: every method, attribute and parameter it
documents must exist (on ``AsyncMemory`` and on the ``Memory`` facade alike)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmem_plugins import AsyncMemory, Memory, MemoryConfig

DOC = Path(__file__).resolve().parents[1] / "docs" / "core-api.md"
_OPEN, _CLOSE = "([{", ")]}"


def _balanced(text: str, start: int) -> str:
    """The text between the ``(`` at ``start`` and its matching ``)``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] in _OPEN:
            depth += 1
        elif text[i] in _CLOSE:
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    raise AssertionError(f"unbalanced parenthesis in {DOC.name} at {text[start : start + 60]!r}")


def _split_top_level(args: str) -> Iterator[str]:
    depth, piece = 0, []
    for ch in args:
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        if ch == "," and depth == 0:
            yield "".join(piece).strip()
            piece = []
        else:
            piece.append(ch)
    yield "".join(piece).strip()


def _documented_names(args: str) -> list[str]:
    """Parameter names a documented call or signature uses; example values are skipped."""
    names = []
    for piece in _split_top_level(args):
        piece = " ".join(piece.split())
        if piece in ("", "*", "/", "..."):
            continue
        match = re.match(r"^(\*{0,2})([A-Za-z_]\w*)\s*(?=[:=]|$)", piece)
        if match:  # `name`, `name=value`, `name: type = default`, `**name`
            names.append(match.group(1) + match.group(2))
    return names


def _problems(where: str, fn: Callable[..., Any], names: list[str]) -> list[str]:
    params = inspect.signature(fn).parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    out = []
    for name in names:
        if name.startswith("**"):
            ok = var_kw
        elif name in params and params[name].kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            ok = True
        else:  # the constructors take MemoryConfig's fields as keywords
            ok = var_kw and fn.__name__ == "__init__" and name in MemoryConfig.model_fields
        if not ok:
            out.append(f"{where}: no parameter {name!r}")
    return out


def check_document(text: str) -> list[str]:
    problems: list[str] = []
    for match in re.finditer(r"(?<![\w.])m\.(\w+)(\()?", text):
        name, is_call = match.group(1), match.group(2) is not None
        for cls in (AsyncMemory, Memory):
            member = getattr(cls, name, None)
            if member is None and name not in ("config", "embedder", "llm"):
                problems.append(f"m.{name}: {cls.__name__} has no such method or attribute")
            elif is_call and member is not None:
                args = _balanced(text, match.end() - 1)
                problems += _problems(f"{cls.__name__}.{name}", member, _documented_names(args))
    for match in re.finditer(r"(?<![\w.])(AsyncMemory|Memory)\(", text):
        cls = AsyncMemory if match.group(1) == "AsyncMemory" else Memory
        args = _balanced(text, match.end() - 1)
        problems += _problems(f"{cls.__name__}(...)", cls.__init__, _documented_names(args))
    return sorted(set(problems))


def test_core_api_doc_documents_only_what_exists() -> None:
    assert check_document(DOC.read_text()) == []


def test_core_api_doc_covers_every_public_method() -> None:
    text = DOC.read_text()
    public = [n for n, _ in inspect.getmembers(AsyncMemory, inspect.iscoroutinefunction)]
    undocumented = [n for n in public if not n.startswith("_") and f"m.{n}(" not in text]
    assert undocumented == []


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ("first call (or `await m.open()`) creates", "m.open: AsyncMemory has no such method"),
        ("await m.get(id) -> MemoryItem", "AsyncMemory.get: no parameter 'id'"),
        ("await m.search(query, *, top_k=5)", "AsyncMemory.search: no parameter 'top_k'"),
        ("Memory(path=tmp, colour='red')", "Memory(...): no parameter 'colour'"),
    ],
)
def test_the_check_catches_what_does_not_exist(snippet: str, problem: str) -> None:
    assert any(p.startswith(problem) for p in check_document(snippet)), check_document(snippet)


def test_the_check_accepts_real_calls_and_example_values() -> None:
    text = (
        "AsyncMemory(MemoryConfig(path='x'), embedder=my_embedder, path=tmp)\n"
        "await m.search(query: str | None = None, *, vector=None, mode: 'a' | 'b' = 'a')\n"
        "m.flush() / m.close(); m.config, m.embedder"
    )
    assert check_document(text) == []

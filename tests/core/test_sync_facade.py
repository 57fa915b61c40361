"""``Memory`` (sync) and ``AsyncMemory`` expose the same API, typed the same way.

``Memory``'s methods are written out by hand as one-line delegations, so this test is
what keeps the two classes from drifting: every public coroutine method of
``AsyncMemory`` must have a sync twin with the same parameters, defaults, annotations,
return type and docstring.
"""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import typing
from pathlib import Path

import pytest

from agentmem_plugins import AsyncMemory, ConfigError, Memory, MemoryItem

# Memory.close also stops the private loop thread, so its docstring says so.
_OWN_DOCSTRING = {"close"}


def _public_methods(cls: type) -> dict[str, typing.Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_memory_has_a_sync_twin_of_every_async_method() -> None:
    async_methods = _public_methods(AsyncMemory)
    sync_methods = _public_methods(Memory)
    assert all(inspect.iscoroutinefunction(m) for m in async_methods.values())
    assert not any(inspect.iscoroutinefunction(m) for m in sync_methods.values())
    assert sorted(sync_methods) == sorted(async_methods)


@pytest.mark.parametrize("name", sorted(_public_methods(AsyncMemory)))
def test_sync_twin_has_the_same_signature_types_and_docstring(name: str) -> None:
    async_method = getattr(AsyncMemory, name)
    sync_method = getattr(Memory, name)
    a_sig = inspect.signature(async_method, eval_str=True)
    s_sig = inspect.signature(sync_method, eval_str=True)
    assert list(s_sig.parameters.values()) == list(a_sig.parameters.values())
    assert s_sig.return_annotation == a_sig.return_annotation
    assert s_sig.return_annotation is not inspect.Signature.empty
    if name not in _OWN_DOCSTRING:
        assert inspect.getdoc(sync_method) == inspect.getdoc(async_method)
    # every parameter is annotated, so IDEs and mypy see real types, not Any
    assert all(
        p.annotation is not inspect.Parameter.empty
        for p in s_sig.parameters.values()
        if p.name != "self"
    )


def test_constructors_take_the_same_parameters() -> None:
    a_sig = inspect.signature(AsyncMemory.__init__, eval_str=True)
    s_sig = inspect.signature(Memory.__init__, eval_str=True)
    assert list(s_sig.parameters.values()) == list(a_sig.parameters.values())


def test_sync_search_is_typed_as_a_list_of_memory_items() -> None:
    hints = typing.get_type_hints(Memory.search)
    assert hints["return"] == list[MemoryItem]


def test_a_bad_llm_is_rejected_before_any_store_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "mem"
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(ConfigError, match="llm must be a ChatModel"):
        Memory(path=path, embedder="hash", llm="gpt-4o")  # type: ignore[arg-type]
    # nothing was created or opened: no folder, no session marker, no worker threads
    assert not path.exists()
    leaked = {t.name for t in threading.enumerate()} - before
    assert not [n for n in leaked if n.startswith("agentmem-io") or n.startswith("agentmem-embed")]
    with Memory(path=path, embedder="hash") as memory:  # opens cleanly afterwards
        assert memory.count(user_id="u") == 0


async def test_a_bad_llm_is_rejected_before_any_store_is_opened_async(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="llm must be a ChatModel"):
        AsyncMemory(path=tmp_path / "mem", embedder="hash", llm=object())  # type: ignore[arg-type]
    assert not (tmp_path / "mem").exists()


_USER_SNIPPET = textwrap.dedent(
    """
    from agentmem_plugins import Memory

    m = Memory(path="./mem", embedder="hash")
    hits = m.search("where?", user_id="u")
    reveal_type(hits)
    m.search("where?", user_id=42)
    """
)


@pytest.mark.slow
def test_mypy_sees_the_sync_facades_types(tmp_path: Path) -> None:
    """A user's ``m.search(...)`` is ``list[MemoryItem]``; a wrong argument type is flagged."""
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mypy is not installed (it is in the 'test' extra)")
    snippet = tmp_path / "user_code.py"
    snippet.write_text(_USER_SNIPPET)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-error-summary",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--config-file",
            "",
            str(snippet),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    revealed = r'Revealed type is "(builtins\.)?list\[agentmem_plugins\._types\.MemoryItem\]"'
    assert re.search(revealed, out), out
    assert 'Argument "user_id" to "search" of "Memory" has incompatible type "int"' in out, out

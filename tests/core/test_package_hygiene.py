"""The package's promises about itself: what it imports, declares and raises."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

import agentmem_plugins
from agentmem_plugins import AgentMemError, ConfigError
from agentmem_plugins.llms import ConcurrencyLimit, OpenAIChatModel, ScriptedChatModel, call_json

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(agentmem_plugins.__file__).resolve().parent


def test_importing_the_package_loads_no_test_helpers_or_frameworks() -> None:
    code = (
        "import sys, agentmem_plugins\n"
        "bad = [m for m in sys.modules if m.startswith("
        "('agentmem_plugins.testing', 'pytest', 'langchain', 'llama_index'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "[]"


def _module_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_third_party_module_the_core_imports_is_a_declared_dependency() -> None:
    tomllib = pytest.importorskip("tomllib")
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower().replace("_", "-")
        for req in project["dependencies"]
    }
    dists = packages_distributions()
    missing: dict[str, str] = {}
    for path in PACKAGE.rglob("*.py"):
        if "testing" in path.relative_to(PACKAGE).parts:  # test helpers need the test extra
            continue
        for name in _module_level_imports(path) - set(sys.stdlib_module_names):
            if name == "agentmem_plugins":
                continue
            owners = {d.lower().replace("_", "-") for d in dists.get(name, [name])}
            if not owners & declared:
                missing[name] = str(path.relative_to(PACKAGE))
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_llm_configuration_errors_derive_from_agentmem_error() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        OpenAIChatModel("", "m")
    with pytest.raises(ConfigError, match="model"):
        OpenAIChatModel("http://127.0.0.1:9/v1", "")
    with pytest.raises(ConfigError, match="max_connections"):
        OpenAIChatModel("http://127.0.0.1:9/v1", "m", max_connections=0)
    with pytest.raises(ConfigError, match="max_in_flight"):
        ConcurrencyLimit(0)
    assert issubclass(ConfigError, AgentMemError) and issubclass(ConfigError, ValueError)


async def test_call_json_rejects_negative_budgets_with_a_config_error() -> None:
    class Answer(BaseModel):
        ok: bool

    llm = ScriptedChatModel(['{"ok": true}'])
    with pytest.raises(ConfigError, match="max_retries"):
        await call_json(llm, [{"role": "user", "content": "hi"}], schema=Answer, max_retries=-1)
    assert llm.calls == []  # rejected before anything was sent


def test_the_llm_concurrency_bound_is_documented_per_store() -> None:
    from agentmem_plugins.llms import _retry

    doc = _retry.__doc__ or ""
    assert "per store" in doc and "whole process" not in doc


def _sources() -> list[Path]:
    return [*PACKAGE.rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]


def test_the_scope_fields_are_spelled_out_once() -> None:
    spelled = re.compile(r"""\(\s*["']user_id["'],\s*["']agent_id["'],\s*["']run_id["']\s*\)""")
    places = [str(p.relative_to(ROOT)) for p in _sources() if spelled.search(p.read_text())]
    assert places == ["agentmem_plugins/_validation.py"]


def test_utc_conversions_are_defined_once() -> None:
    helpers = {"now_utc", "naive_utc", "utc", "_naive", "_aware", "aware_utc"}
    defined = [
        f"{p.relative_to(ROOT)}:{node.name}"
        for p in _sources()
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name in helpers
    ]
    assert {d.split(":")[0] for d in defined} == {"agentmem_plugins/_time.py"}, defined

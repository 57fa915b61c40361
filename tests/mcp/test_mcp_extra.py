"""Without the ``mcp`` extra, ``agentmem mcp`` says which pip command to run."""

from __future__ import annotations

import sys

from agentmem_plugins.cli import main


def test_missing_mcp_extra_names_the_pip_command(monkeypatch, tmp_path, capsys) -> None:
    for name in [n for n in sys.modules if n == "mcp" or n.startswith("mcp.")] + ["mcp"]:
        monkeypatch.setitem(sys.modules, name, None)  # import mcp... -> ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "agentmem_plugins.mcp_server", raising=False)
    assert main(["--path", str(tmp_path), "--embedder", "hash", "mcp"]) == 1
    assert 'pip install "agentmem-plugins[mcp]"' in capsys.readouterr().err

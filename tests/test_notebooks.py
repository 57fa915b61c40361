"""Every notebook in notebooks/ executes top to bottom (offline, scripted models)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def kernel_name() -> str:
    """A kernel bound to this interpreter, so notebooks see the same installed packages."""
    from ipykernel.kernelspec import install

    prefix = Path(sys.prefix)
    install(prefix=str(prefix), kernel_name="agentmem-tests", display_name="agentmem tests")
    return "agentmem-tests"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path, kernel_name: str, monkeypatch) -> None:
    monkeypatch.setenv("AGENTMEM_PATH", str(tmp_path / "store"))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors

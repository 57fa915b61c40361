"""Fixtures for the LangChain / LangGraph adapter tests: stores in tmp dirs, offline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentmem_plugins import Memory


@pytest.fixture
def memory(tmp_path) -> Iterator[Memory]:
    """A sync core memory on the offline ``hash`` embedder."""
    with Memory(path=tmp_path / "mem", embedder="hash") as m:
        yield m

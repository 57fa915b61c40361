"""pytest fixtures for the loopback LLM server.

Register with ``pytest_plugins = ["agentmem_plugins.testing.pytest_plugin"]`` in a
top-level ``conftest.py``. Fixtures:

* ``llm_server``: a fresh :class:`~agentmem_plugins.testing.llm_server.LLMServer` on
  127.0.0.1 and a free port, no latency, no faults (function scope: stats and settings
  never leak between tests; starting one takes milliseconds).
* ``llm_server_factory``: ``make(**settings) -> LLMServer`` for other settings, e.g.
  ``make(latency_ms=50, error_rate=0.2, seed=1)``; every server made is stopped after
  the test.

Example::

    def test_extracts(llm_server):
        llm = OpenAIChatModel(llm_server.base_url, "agentmem-rules")
        ...
        assert llm_server.stats()["by_outcome"]["ok"] == 1
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .llm_server import LLMServer

__all__ = ["llm_server", "llm_server_factory"]


@pytest.fixture
def llm_server_factory() -> Iterator[Callable[..., LLMServer]]:
    servers: list[LLMServer] = []

    def make(**settings: Any) -> LLMServer:
        server = LLMServer(**settings)
        server.__enter__()
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        server.close()


@pytest.fixture
def llm_server(llm_server_factory: Callable[..., LLMServer]) -> LLMServer:
    return llm_server_factory()

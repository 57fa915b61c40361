"""Shared fixtures: stores in tmp dirs on the offline embedder, and a call-counting one.

``backend`` parametrises a suite over the storage backends: ``embedded`` (SQLite + LanceDB
in a folder, the default) and ``postgres`` (records, pgvector and full text in one
PostgreSQL, one transaction per batch). The ``postgres`` param needs
``AGENTMEM_TEST_POSTGRES_URL`` (``.ci/run`` starts a server) and is skipped without it; each
test gets its own schema, selected through the URL's ``search_path``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from agentmem_plugins import AsyncMemory, Memory
from agentmem_plugins.embeddings import HashEmbedder


class CountingEmbedder:
    """The offline embedder, counting calls and texts (to prove batching)."""

    def __init__(self, dim: int = 64) -> None:
        self._inner = HashEmbedder(dim=dim)
        self.calls: list[int] = []
        self.query_calls = 0

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        self.query_calls += 1
        return self._inner.embed_query(text)


@pytest.fixture
def counting_embedder() -> CountingEmbedder:
    return CountingEmbedder()


PG_URL = os.environ.get("AGENTMEM_TEST_POSTGRES_URL")
NEEDS_PG = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="set AGENTMEM_TEST_POSTGRES_URL (CI starts a server)"),
]
BACKENDS = ["embedded", pytest.param("postgres", marks=NEEDS_PG)]


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the test server, as a URL whose ``search_path`` selects it (a
    schema costs ~10 ms; a database ~1.7 s to create and drop)."""
    assert PG_URL is not None
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")  # once, in public
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    url = sa.engine.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={name},public"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request) -> Iterator[dict[str, Any]]:
    """Config fields selecting the backend: ``{}`` (embedded) or everything in PostgreSQL."""
    if request.param == "embedded":
        yield {}
        return
    with postgres_schema() as url:
        yield {"sql_url": url, "vector_uri": url}


@pytest.fixture
async def amem(tmp_path, backend) -> AsyncIterator[AsyncMemory]:
    memory = AsyncMemory(path=tmp_path / "store", embedder="hash", **backend)
    yield memory
    await memory.close()


@pytest.fixture
def mem(tmp_path, backend) -> Iterator[Memory]:
    with Memory(path=tmp_path / "store", embedder="hash", **backend) as memory:
        yield memory


pytest_plugins = ["agentmem_plugins.testing.pytest_plugin"]

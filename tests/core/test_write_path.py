"""The write path: coalesced micro-batches, isolation of bad requests, durability order,
invariant 5 (one embedding space per store) and the reconcile step."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from agentmem_plugins import (
    AsyncMemory,
    ConfigError,
    EmbedderMismatchError,
    InvalidInputError,
    Memory,
)
from agentmem_plugins.storage import Changes
from agentmem_plugins.storage._records import RecordStore

from ..conftest import BACKENDS, CountingEmbedder, postgres_schema


async def test_concurrent_adds_share_embed_calls(tmp_path, counting_embedder) -> None:
    async with AsyncMemory(path=tmp_path, embedder=counting_embedder) as memory:
        results = await asyncio.gather(
            *(memory.add(f"memory number {i}", user_id=f"u{i % 7}") for i in range(200))
        )
        assert sum(counting_embedder.calls) == 200
        # 200 callers, far fewer embed calls: they were coalesced into micro-batches
        assert len(counting_embedder.calls) <= 20, counting_embedder.calls
        ids = [r.results[0].id for r in results]
        assert len(set(ids)) == 200
        assert len(await memory.get_many(ids)) == 200
        assert await memory.count(all_scopes=True) == 200


async def test_add_many_embeds_in_batches_not_one_by_one(tmp_path, counting_embedder) -> None:
    async with AsyncMemory(path=tmp_path, embedder=counting_embedder, batch_max_size=256) as memory:
        ids = await memory.add_many({"text": f"t {i}", "user_id": "u"} for i in range(1000))
        assert len(ids) == 1000 and len(set(ids)) == 1000
        assert counting_embedder.calls and max(counting_embedder.calls) <= 256
        assert len(counting_embedder.calls) <= 8


async def test_one_bad_request_does_not_fail_its_batch_mates(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash") as memory:
        await memory.add_many([{"id": "taken", "text": "alice's", "user_id": "alice"}])
        good = [memory.add(f"good {i}", user_id="bob") for i in range(20)]
        bad = memory.add_many([{"id": "taken", "text": "bob's", "user_id": "bob"}])
        results = await asyncio.gather(*good, bad, return_exceptions=True)
        assert isinstance(results[-1], InvalidInputError)
        assert not any(isinstance(r, Exception) for r in results[:-1])
        assert await memory.count(user_id="bob") == 20


async def test_same_id_in_concurrent_requests_keeps_submission_order(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash") as memory:
        await asyncio.gather(
            *(
                memory.add_many([{"id": "k", "text": f"version {i}", "user_id": "u"}])
                for i in range(10)
            )
        )
        assert (await memory.get("k")).text == "version 9"
        assert len(await memory.history("k")) == 10


async def test_a_store_refuses_another_embedder(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash") as memory:
        await memory.add("x", user_id="u")
    with pytest.raises(EmbedderMismatchError, match="hash-v1-256"):
        AsyncMemory(path=tmp_path, embedder="hash:128")
    async with AsyncMemory(path=tmp_path, embedder="hash") as memory:  # still fine
        assert await memory.count(user_id="u") == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_first_opener_records_the_embedder_and_the_second_checks_it(
    tmp_path, backend, monkeypatch
) -> None:
    # Two processes open one new store: both read no embedder, both record theirs. The first
    # commit wins; the second reads it back and refuses a different embedder (CI once saw
    # the second fail on the meta table's primary key instead).
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_schema()) if backend == "postgres" else None
        config = {"path": tmp_path, "sql_url": url} if url else {"path": tmp_path}
        stack.enter_context(Memory(**config, embedder="hash"))
        monkeypatch.setattr(RecordStore, "get_meta", lambda self: {})  # read before that commit
        with pytest.raises(EmbedderMismatchError, match="hash-v1-256"):
            Memory(**config, embedder="hash:128")
        with Memory(**config, embedder="hash") as memory:  # the same embedder is welcome
            memory.add("x", user_id="u", infer=False)
        monkeypatch.undo()
        store = RecordStore(url or f"sqlite:///{tmp_path / 'memories.db'}")
        try:
            assert store.get_meta()["embedder_dim"] == "256"
            assert store.claim_meta({"embedder_name": "other", "k": "v"}) == {
                "embedder_name": "hash-v1-256",
                "k": "v",
            }
        finally:
            store.close()


async def test_dimension_is_learned_from_the_first_precomputed_vector(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="none") as memory:
        await memory.add_many([{"text": "a", "user_id": "u", "vector": [0.1, 0.2]}])
        with pytest.raises(InvalidInputError, match="has 3 dimensions"):
            await memory.add_many([{"text": "b", "user_id": "u", "vector": [1, 2, 3]}])
    async with AsyncMemory(path=tmp_path, embedder="none") as memory:
        with pytest.raises(InvalidInputError, match="has 3 dimensions"):
            await memory.add_many([{"text": "b", "user_id": "u", "vector": [1, 2, 3]}])
        with pytest.raises(InvalidInputError, match="no embedder"):
            await memory.add("needs a vector", user_id="u")


async def test_reconcile_repairs_both_kinds_of_drift(tmp_path) -> None:
    memory = AsyncMemory(path=tmp_path, embedder="hash")
    ids = await memory.add_many({"text": f"fact {i}", "user_id": "u"} for i in range(50))
    stores = memory._stores
    stores.vectors.delete(ids[:5])  # SQL rows whose vectors were lost
    orphan = dict(stores.records.full_rows([ids[5]])[0], id="orphan", rev="zzz")
    stores.vectors.add([orphan], None)  # a vector row SQL never committed
    report = await memory.check(repair=True)
    assert (report.missing, report.extra, report.repaired) == (sorted(ids[:5]), ["orphan"], True)
    assert (await memory.check()).ok
    assert stores.vectors.revisions() == stores.records.revisions()
    hits = await memory.search("fact 3", user_id="u", limit=3)
    assert ids[3] in [h.id for h in hits]
    await memory.close()


async def test_many_small_batches_keep_the_table_compact(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash", compact_every_writes=8) as memory:
        for i in range(40):
            await memory.add(f"small batch {i}", user_id="u")
        await memory._writer.upkeep.wait()
        table = memory._stores.vectors._table
        assert len(table.to_arrow()) == 40
        # compaction ran: far fewer fragments than the 40 appends made
        assert table.stats()["fragment_stats"]["num_fragments"] < 20
        vector = np.asarray(memory.embedder.embed_query("small batch 7"))
        hits = await memory.search(vector=vector.tolist(), user_id="u", limit=1)
        assert hits[0].text == "small batch 7"


async def test_writes_and_deletes_race_background_maintenance_safely(tmp_path) -> None:
    async with AsyncMemory(path=tmp_path, embedder="hash", compact_every_writes=2) as memory:
        keep: list[str] = []
        for round_ in range(15):
            ids = await memory.add_many(
                {"text": f"round {round_} item {i}", "user_id": "u"} for i in range(40)
            )
            await asyncio.gather(
                memory.delete_many(ids[:20]),
                *(memory.add(f"single {round_} {i}", user_id="u") for i in range(10)),
            )
            keep += ids[20:]
        await memory._writer.upkeep.wait()
        assert await memory.count(user_id="u") == 15 * 30
        stores = memory._stores
        assert stores.vectors.revisions() == stores.records.revisions()
        assert len(await memory.get_many(keep)) == len(keep)


async def test_the_ann_index_is_built_and_searched_with_large_limits(tmp_path) -> None:
    async with AsyncMemory(
        path=tmp_path,
        embedder="hash",
        ann_min_rows=256,
        compact_every_writes=1,
        exact_search_max_rows=0,  # force the index path for this scope of 600
    ) as memory:
        await memory.add_many(
            {"text": f"note {i} on subject {i % 50} and item{i}", "user_id": f"u{i % 2}"}
            for i in range(1200)
        )
        await memory.add("one more to trigger maintenance", user_id="u0")
        await memory._writer.upkeep.wait()
        assert memory._stores.vectors._has_ann
        for limit in (1, 10, 40, 100):
            hits = await memory.search("subject 7 item7", user_id="u0", limit=limit)
            assert len(hits) == limit and all(h.user_id == "u0" for h in hits)
        exact = await memory._io(
            memory._searcher._exact_in_thread,  # no row bound: every row scored
            memory.embedder.embed_query("subject 7 item7"),
            {"user_id": "u0"},
            None,
            10,
            None,
        )
        hits = await memory.search("subject 7 item7", user_id="u0", limit=10)
        assert len({h.id for h in hits} & {h.id for h in exact}) >= 9  # recall@10 >= 0.9
        # index hits are scored exactly on their full vectors (no 8-bit approximation):
        # the same score as the exact path for every id both found, best first
        by_id = {h.id: h.score for h in exact}
        for h in hits:
            if h.id in by_id:
                assert h.score == pytest.approx(by_id[h.id], abs=1e-5)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_ann_upkeep_runs_in_the_worker_and_retrains_as_the_table_grows(tmp_path) -> None:
    from agentmem_plugins.storage._upkeep import ANN_PREFIX, trained_rows

    async with AsyncMemory(
        path=tmp_path, embedder="hash", ann_min_rows=300, exact_search_max_rows=0
    ) as memory:
        vectors = memory._stores.vectors

        def ann_names() -> list[str]:
            return [ix.name for ix in vectors._table.list_indices() if ix.columns == ["vector"]]

        await memory.add_many({"text": f"fact {i} item{i}", "user_id": "u"} for i in range(400))
        await memory._io(memory._stores.maintain)
        assert vectors._worker._proc is not None  # large enough: done by the child process
        assert [trained_rows(n) for n in ann_names()] == [400]
        await memory.add_many({"text": f"more {i} item{i}", "user_id": "u"} for i in range(300))
        await memory._io(memory._stores.maintain)  # 700 < 2 x 400: deltas only
        assert [trained_rows(n) for n in ann_names()] == [400]
        await memory.add_many({"text": f"late {i} item{i}", "user_id": "u"} for i in range(200))
        await memory._io(memory._stores.maintain)  # 900 >= 2 x 400: retrained, old one gone
        assert ann_names() == [f"{ANN_PREFIX}900"]
        hits = await memory.search("late 7 item7", user_id="u", limit=10)
        assert len(hits) == 10 and hits[0].text == "late 7 item7"
    assert vectors._worker._proc is None  # close() stopped the worker


class _GatedEmbedder(CountingEmbedder):
    """Blocks every embed call of more than 64 texts (a bulk batch) until released."""

    def __init__(self) -> None:
        super().__init__()
        self.bulk_started = threading.Event()
        self.release = threading.Event()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) > 64:
            self.bulk_started.set()
            self.release.wait(30)
        return super().embed_documents(texts)


async def test_a_single_add_does_not_wait_for_a_bulk_batch(tmp_path) -> None:
    """Small requests of new memories have their own lane (issue 14): an agent's ``add``
    is stored and acknowledged while a bulk ``add_many`` batch is still in the pipeline;
    both end up stored."""
    embedder = _GatedEmbedder()
    async with AsyncMemory(path=tmp_path, embedder=embedder) as memory:
        try:
            bulk = asyncio.ensure_future(
                memory.add_many({"text": f"doc {i}", "user_id": "docs"} for i in range(500))
            )
            assert await asyncio.to_thread(embedder.bulk_started.wait, 10)
            added = await asyncio.wait_for(memory.add("a note", user_id="agent"), 10)
            assert not bulk.done()
            assert (await memory.get(added.results[0].id)).text == "a note"
        finally:
            embedder.release.set()
        assert len(set(await bulk)) == 500
        assert await memory.count(user_id="docs") == 500
        assert (await memory.check()).ok


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_store_refuses_the_vectors_of_another_store(tmp_path, backend) -> None:
    # a new records database pointed at a vector_uri that holds another store's vectors
    with contextlib.ExitStack() as stack:
        if backend == "postgres":
            first = {"sql_url": stack.enter_context(postgres_schema())}
            first["vector_uri"] = first["sql_url"]
            second = {"sql_url": stack.enter_context(postgres_schema())}
            second["vector_uri"] = first["vector_uri"]
        else:
            first = {"path": tmp_path / "a"}
            second = {"path": tmp_path / "b", "vector_uri": str(tmp_path / "a" / "lancedb")}
        with Memory(**first, embedder="hash") as memory:
            kept = memory.add("kept", user_id="u", infer=False).results[0].id
        with pytest.raises(ConfigError, match="holds the vectors of another store"):
            Memory(**second, embedder="hash")
        with Memory(**first, embedder="hash") as memory:  # its owner still opens it
            assert [m.id for m in memory.get_all(user_id="u")] == [kept]
            assert memory.check().ok


def test_a_write_knows_whether_another_connection_committed_since(tmp_path) -> None:
    """The revision check after a batch is skipped only when SQLite says no other
    connection (no other process) has committed since the batch's transaction."""
    url = f"sqlite:///{tmp_path / 'memories.db'}"
    ours, theirs = RecordStore(url), RecordStore(url)
    try:
        mark = ours.apply(Changes())
        assert mark is not None and ours.alone_since(mark)
        ours.claim_meta({"ours": "1"})  # this process's own later commits change nothing
        assert ours.alone_since(mark)
        theirs.claim_meta({"theirs": "1"})  # another connection committed
        assert not ours.alone_since(mark)
        assert not ours.alone_since(None)  # PostgreSQL: cannot tell, so always check
    finally:
        ours.close()
        theirs.close()


async def test_a_row_changed_by_another_process_during_a_write_converges(tmp_path) -> None:
    """Another process updates a new memory between our SQL commit and our vector
    write (it found the id in SQL): our revision check sees it and the vector side
    ends with exactly their revision, once."""
    memory = AsyncMemory(path=tmp_path, embedder="hash")
    await memory.add("warm-up", user_id="u", infer=False)
    other = Memory(path=tmp_path, embedder="hash")
    stores = memory._stores
    real_apply = stores.vectors.apply
    raced: list[str] = []

    def apply_after_their_update(changes: Changes) -> None:
        if not raced and changes.rows:
            memory_id = changes.rows[0]["id"]
            for _ in range(500):  # our SQL transaction runs beside this write
                if other.get_many([memory_id]):
                    break
                threading.Event().wait(0.01)
            other.update(memory_id, text="changed by the other process")
            raced.append(memory_id)
        real_apply(changes)

    stores.vectors.apply = apply_after_their_update  # type: ignore[method-assign]
    try:
        result = await memory.add("written by us", user_id="u", infer=False)
        await memory._writer.drain()  # and the revision check after it
    finally:
        stores.vectors.apply = real_apply  # type: ignore[method-assign]
    assert raced == [result.results[0].id]
    assert (await memory.get(raced[0])).text == "changed by the other process"
    report = await memory.check()
    assert report.ok, report
    assert stores.vectors.revisions() == stores.records.revisions()
    assert [i for i, _ in stores.vectors.id_revs()].count(raced[0]) == 1  # no duplicate
    other.close()
    await memory.close()

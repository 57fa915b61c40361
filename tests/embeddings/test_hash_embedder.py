from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import agentmem_plugins
from agentmem_plugins import ConfigError
from agentmem_plugins.embeddings import Embedder, HashEmbedder
from agentmem_plugins.embeddings import _hash as hash_module


def _cos(emb: HashEmbedder, a: str, b: str) -> float:
    va, vb = emb.embed_documents([a, b])
    return float(va @ vb)


def test_satisfies_protocol_and_names_its_space() -> None:
    emb = HashEmbedder()
    assert isinstance(emb, Embedder)
    assert (emb.name, emb.dim) == ("hash-v1-256", 256)
    assert HashEmbedder(dim=512).name == "hash-v1-512"


@pytest.mark.parametrize("dim", [0, 4, -1, 2.5, True])
def test_rejects_bad_dim(dim: object) -> None:
    with pytest.raises(ConfigError):
        HashEmbedder(dim=dim)  # type: ignore[arg-type]


def test_shape_dtype_and_unit_norm(docs: list[str]) -> None:
    emb = HashEmbedder(dim=64)
    vecs = emb.embed_documents(docs)
    assert vecs.shape == (len(docs), 64)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    q = emb.embed_query("green tea")
    assert q.shape == (64,) and q.dtype == np.float32
    assert emb.embed_documents([]).shape == (0, 64)


def test_text_without_words_is_a_zero_vector() -> None:
    vecs = HashEmbedder().embed_documents(["", "?!  ...", "tea"])
    assert not vecs[0].any() and not vecs[1].any()
    assert np.linalg.norm(vecs[2]) == pytest.approx(1.0, abs=1e-6)


def test_rows_stay_aligned_around_empty_texts_and_nul_characters() -> None:
    emb = HashEmbedder()
    texts = ["", "green tea", "  ", "tea\x00coffee", "!!", "coffee"]
    batch = emb.embed_documents(texts)
    np.testing.assert_array_equal(batch, np.stack([emb.embed_query(t) for t in texts]))
    assert not batch[[0, 2, 4]].any()
    np.testing.assert_array_equal(batch[3], emb.embed_query("tea coffee"))


def test_deterministic_across_instances_and_batches(docs: list[str]) -> None:
    a = HashEmbedder().embed_documents(docs)
    emb = HashEmbedder()
    emb.embed_documents(["warm the cache with other words first", "zebra xylophone"])
    one_by_one = np.stack([emb.embed_query(t) for t in docs])
    reversed_batch = emb.embed_documents(docs[::-1])[::-1]
    np.testing.assert_array_equal(a, one_by_one)
    np.testing.assert_array_equal(a, reversed_batch)


def test_deterministic_across_processes(docs: list[str]) -> None:
    """Python's hash() is salted per process; the embedder must not depend on it."""
    code = (
        "import hashlib, sys\n"
        "from agentmem_plugins.embeddings import HashEmbedder\n"
        "vecs = HashEmbedder().embed_documents(sys.argv[1:])\n"
        "print(hashlib.sha256(vecs.tobytes()).hexdigest())\n"
    )
    repo = Path(agentmem_plugins.__file__).resolve().parent.parent
    # this process runs with a random hash seed (or the one pytest set); pick another
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    run = subprocess.run(
        [sys.executable, "-c", code, *docs],
        cwd=repo,
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        check=True,
    )
    local = hashlib.sha256(HashEmbedder().embed_documents(docs).tobytes()).hexdigest()
    assert run.stdout.strip() == local


def test_large_batches_are_chunked_without_changing_results() -> None:
    texts = [f"memory number {i} about topic {i % 37} and item {i * 7}" for i in range(2500)]
    emb = HashEmbedder()
    big = emb.embed_documents(texts)
    small = np.concatenate(
        [HashEmbedder().embed_documents(texts[i : i + 7]) for i in range(0, 2500, 7)]
    )
    np.testing.assert_allclose(big, small, atol=1e-6)


def test_cache_eviction_does_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [f"word{i} shared text number{i % 5}" for i in range(60)]
    expected = HashEmbedder().embed_documents(texts)
    monkeypatch.setattr(hash_module, "_MAX_VOCAB", 20)
    emb = HashEmbedder()
    got = np.concatenate([emb.embed_documents(texts[i : i + 6]) for i in range(0, 60, 6)])
    assert len(emb._vocab.ids) <= 20 + 6 * 4  # the cache was dropped along the way
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_shared_words_rank_above_unrelated_texts(docs: list[str], queries: dict[str, int]) -> None:
    emb = HashEmbedder()
    docs = emb.embed_documents(docs)
    for query, best in queries.items():
        scores = docs @ emb.embed_query(query)
        assert int(np.argmax(scores)) == best, (query, scores)


def test_inflections_and_case_are_close() -> None:
    emb = HashEmbedder()
    assert _cos(emb, "Alice likes tea", "alice LIKE tea") > _cos(
        emb, "Alice likes tea", "Bob hates cars"
    )
    assert _cos(emb, "likes", "like") > _cos(emb, "likes", "table") + 0.1
    assert _cos(emb, "Running", "running") == pytest.approx(1.0, abs=1e-6)


def test_unicode_is_normalised_and_tokenised() -> None:
    emb = HashEmbedder()
    # full-width letters (NFKC), case folding of non-ASCII letters
    assert _cos(emb, "ｃａｆｅ latte", "cafe latte") == pytest.approx(1.0, abs=1e-6)
    assert _cos(emb, "STRASSE café", "straße CAFÉ") == pytest.approx(1.0, abs=1e-6)
    # non-Latin scripts produce features and match themselves, not unrelated text
    assert _cos(emb, "東京 タワー", "東京 の 夜") > _cos(emb, "東京 タワー", "green tea")
    assert _cos(emb, "Привет мир", "привет друг") > 0.2


def test_term_frequency_is_sublinear() -> None:
    emb = HashEmbedder()
    # with raw counts, eight "tea" would drown "coffee" (cosine ~0.12)
    assert _cos(emb, "tea tea tea tea tea tea tea tea coffee", "coffee") > 0.2


def test_threads_share_one_embedder_safely() -> None:
    texts = [[f"thread {t} text {i} word{t * 1000 + i}" for i in range(300)] for t in range(4)]
    expected = [HashEmbedder().embed_documents(chunk) for chunk in texts]
    emb = HashEmbedder()
    barrier = threading.Barrier(4)

    def work(chunk: list[str]) -> np.ndarray:
        barrier.wait()
        return np.concatenate([emb.embed_documents(chunk[i : i + 10]) for i in range(0, 300, 10)])

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, texts))
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)

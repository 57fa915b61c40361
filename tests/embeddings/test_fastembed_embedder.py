from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from fastembed import TextEmbedding
from fastembed.text.custom_text_embedding import CustomTextEmbedding

from agentmem_plugins import EmbedderError
from agentmem_plugins.embeddings import Embedder, FastEmbedEmbedder
from agentmem_plugins.testing.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> FastEmbedEmbedder:
    return FastEmbedEmbedder(model_path=tiny_model_dir, threads=2)


def test_local_folder_loads_through_fastembeds_custom_model_path(
    tiny: FastEmbedEmbedder,
) -> None:
    assert isinstance(tiny, Embedder)
    assert tiny.dim == 128
    assert tiny.name.startswith("fastembed:local-")
    # registered in fastembed's own registry and served by its CustomTextEmbedding class
    supported = {m["model"] for m in TextEmbedding.list_supported_models()}
    assert tiny.model_name in supported
    assert isinstance(tiny._model.model, CustomTextEmbedding)


def test_shape_dtype_and_unit_norm(tiny: FastEmbedEmbedder, docs: list[str]) -> None:
    vecs = tiny.embed_documents(docs)
    assert vecs.shape == (len(docs), 128)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    q = tiny.embed_query("green tea")
    assert q.shape == (128,) and q.dtype == np.float32
    assert tiny.embed_documents([]).shape == (0, 128)


def test_batch_equals_one_by_one_and_is_deterministic(
    tiny: FastEmbedEmbedder, docs: list[str]
) -> None:
    batch = tiny.embed_documents(docs)
    one_by_one = np.stack([tiny.embed_documents([d])[0] for d in docs])
    queries = np.stack([tiny.embed_query(d) for d in docs])
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)
    np.testing.assert_allclose(batch, queries, atol=1e-5)
    np.testing.assert_array_equal(batch, tiny.embed_documents(docs))


def test_a_batch_runs_in_length_buckets(
    tiny: FastEmbedEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real_embed = tiny._model.embed

    def spy(texts: list[str], **kwargs: object) -> object:
        calls.append(len(texts))
        return real_embed(texts, **kwargs)

    monkeypatch.setattr(tiny._model, "embed", spy)
    texts = [f"note number {i} about tea" for i in range(600)]
    vecs = tiny.embed_documents(texts)
    assert calls == [tiny.batch_size] * (600 // tiny.batch_size) + [600 % tiny.batch_size]
    assert vecs.shape == (600, 128)


def test_shared_words_rank_above_unrelated_texts(
    tiny: FastEmbedEmbedder, docs: list[str], queries: dict[str, int]
) -> None:
    doc_vecs = tiny.embed_documents(docs)
    for query, best in queries.items():
        scores = doc_vecs @ tiny.embed_query(query)
        assert int(np.argmax(scores)) == best, (query, scores)


def test_loading_twice_and_from_a_copy_reuses_the_registration(
    tiny: FastEmbedEmbedder, tiny_model_dir: Path, tmp_path: Path, docs: list[str]
) -> None:
    again = FastEmbedEmbedder(model_path=tiny_model_dir, threads=1)
    copy = FastEmbedEmbedder(model_path=shutil.copytree(tiny_model_dir, tmp_path / "moved"))
    # the name is the model's content, not its folder: a moved model is the same space
    assert again.name == copy.name == tiny.name
    np.testing.assert_allclose(again.embed_documents(docs), tiny.embed_documents(docs), atol=1e-5)
    np.testing.assert_allclose(copy.embed_documents(docs), tiny.embed_documents(docs), atol=1e-5)
    names = [m.model for m in CustomTextEmbedding._list_supported_models()]
    assert names.count(tiny.model_name) == 1


def test_other_weights_are_another_embedding_space(
    tiny: FastEmbedEmbedder, tmp_path: Path, docs: list[str]
) -> None:
    other = FastEmbedEmbedder(model_path=build_tiny_model(tmp_path / "seed1", seed=1))
    assert other.name != tiny.name
    assert not np.allclose(other.embed_documents(docs), tiny.embed_documents(docs))


def test_cls_pooling_is_a_different_space(tiny_model_dir: Path, tiny: FastEmbedEmbedder) -> None:
    cls = FastEmbedEmbedder(model_path=tiny_model_dir, pooling="cls")
    assert cls.name != tiny.name
    with pytest.raises(EmbedderError, match="pooling"):
        FastEmbedEmbedder(model_path=tiny_model_dir, pooling="max")


def test_missing_model_fails_fast_with_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = time.monotonic()
    with pytest.raises(EmbedderError) as err:
        FastEmbedEmbedder(cache_dir=tmp_path, local_files_only=True)
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert "BAAI/bge-small-en-v1.5" in message
    assert "model_path" in message and "embedder='hash'" in message

    # the automatic mode never starts fastembed's download retries when offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(EmbedderError, match="HF_HUB_OFFLINE"):
        FastEmbedEmbedder(cache_dir=tmp_path)
    assert time.monotonic() - start < 5


def test_unknown_model_name_is_an_embedder_error() -> None:
    with pytest.raises(EmbedderError, match="list_supported_models"):
        FastEmbedEmbedder("nobody/no-such-model")


def test_incomplete_folder_names_the_missing_files(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(EmbedderError, match="is not a folder"):
        FastEmbedEmbedder(model_path=tmp_path / "absent")
    partial = shutil.copytree(tiny_model_dir, tmp_path / "partial")
    (partial / "tokenizer.json").unlink()
    with pytest.raises(EmbedderError, match="tokenizer.json"):
        FastEmbedEmbedder(model_path=partial)
    (partial / "model.onnx").write_bytes(b"not an onnx model")
    shutil.copy(tiny_model_dir / "tokenizer.json", partial / "tokenizer.json")
    with pytest.raises(EmbedderError, match="Could not load"):
        FastEmbedEmbedder(model_path=partial)

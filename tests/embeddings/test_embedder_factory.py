from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import agentmem_plugins
import agentmem_plugins.embeddings as embeddings
from agentmem_plugins import ConfigError, EmbedderError
from agentmem_plugins.embeddings import FastEmbedEmbedder, HashEmbedder, make_embedder


class _MyEmbedder:
    name = "mine-v1"
    dim = 3

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 3), dtype=np.float32) / np.sqrt(3)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def test_public_names() -> None:
    assert sorted(embeddings.__all__) == [
        "AsyncEmbedder",
        "Embedder",
        "FastEmbedEmbedder",
        "HashEmbedder",
        "embed_documents_async",
        "embed_query_async",
        "l2_normalize",
        "make_embedder",
    ]


@pytest.mark.parametrize(("spec", "dim"), [("hash", 256), ("hash:512", 512), (" HASH : 64 ", 64)])
def test_hash_specs(spec: str, dim: int) -> None:
    emb = make_embedder(spec)
    assert isinstance(emb, HashEmbedder)
    assert emb.dim == dim and emb.name == f"hash-v1-{dim}"


@pytest.mark.parametrize("spec", [None, "none", "NONE"])
def test_none_means_precomputed_vectors(spec: str | None) -> None:
    assert make_embedder(spec) is None


def test_an_embedder_object_passes_through() -> None:
    mine = _MyEmbedder()
    assert make_embedder(mine) is mine
    hashed = HashEmbedder(dim=32)
    assert make_embedder(hashed) is hashed


def test_fastembed_spec_with_a_local_folder(tiny_model_dir: Path) -> None:
    emb = make_embedder(f"fastembed:{tiny_model_dir}")
    assert isinstance(emb, FastEmbedEmbedder)
    assert emb.dim == 128 and emb.name.startswith("fastembed:local-")


def test_fastembed_spec_with_a_missing_folder_is_an_embedder_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="not a folder"):
        make_embedder(f"fastembed:{tmp_path / 'nope'}")


@pytest.mark.parametrize(
    "spec", ["bogus", "hash:abc", "hash:4", "hash:", "fastembed:", "none:x", "", 42, object()]
)
def test_bad_specs_name_the_field_and_the_forms(spec: object) -> None:
    with pytest.raises(ConfigError) as err:
        make_embedder(spec)  # type: ignore[arg-type]
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    assert message.startswith("embedder:")
    assert "hash" in message


def test_importing_the_package_does_not_import_fastembed() -> None:
    code = (
        "import sys, agentmem_plugins.embeddings\n"
        "assert 'fastembed' not in sys.modules and 'onnxruntime' not in sys.modules\n"
    )
    repo = Path(agentmem_plugins.__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True)

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from agentmem_plugins.testing.tiny_model import build_tiny_model, main

FILES = {
    "model.onnx",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
}


def test_files_and_size(tiny_model_dir: Path) -> None:
    assert {p.name for p in tiny_model_dir.iterdir()} == FILES
    total = sum(p.stat().st_size for p in tiny_model_dir.iterdir())
    assert 1e6 < total < 10e6


def test_same_arguments_give_identical_bytes(tiny_model_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again")
    for name in FILES:
        assert (again / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name
    other = build_tiny_model(tmp_path / "other", seed=1)
    assert (other / "model.onnx").read_bytes() != (tiny_model_dir / "model.onnx").read_bytes()


def test_onnx_graph_is_bert_shaped(tiny_model_dir: Path) -> None:
    session = ort.InferenceSession(str(tiny_model_dir / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == [
        "input_ids",
        "attention_mask",
        "token_type_ids",
    ]
    assert [o.name for o in session.get_outputs()] == ["last_hidden_state"]
    tok = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(["Alice likes green tea", "hi"])
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    (out,) = session.run(
        None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids}
    )
    assert out.shape == (2, ids.shape[1], 128) and out.dtype == np.float32
    assert not out[1, mask[1] == 0].any()  # padding is masked out
    assert np.abs(out[0, 1:-1]).sum(axis=1).min() > 1  # real words are not zero


def test_tokenizer_is_wordpiece_over_english(tiny_model_dir: Path) -> None:
    tok = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    assert tok.encode("Alice likes green TEA").tokens == [
        "[CLS]",
        "alice",
        "likes",
        "green",
        "tea",
        "[SEP]",
    ]
    pieces = tok.encode("jumps").tokens[1:-1]
    assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])
    assert tok.get_vocab_size() == 6000


def test_cli_builds_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    main(["--out", str(out), "--seed", "0"])  # what `python -m ...tiny_model` runs
    assert str(out) in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == FILES


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"vocab_size": 10}, "vocab_size"), ({"dim": 1}, "dim")]
)
def test_rejects_unusable_sizes(tmp_path: Path, kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_tiny_model(tmp_path, **kwargs)

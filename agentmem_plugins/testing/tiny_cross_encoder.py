"""Build a tiny ONNX cross-encoder (reranker) of this project's own making.

Reranking tests need a cross-encoder that loads through fastembed's real
``TextCrossEncoder`` path (tokenizer pair template, ONNX Runtime session, logits
``[batch, 1]``) without downloading weights. This writes one into a folder:

* the tokenizer and configs of :mod:`agentmem_plugins.testing.tiny_model` (pairs are
  encoded ``[CLS] query [SEP] document [SEP]``, the document with token type 1);
* ``model.onnx``: ``input_ids``, ``attention_mask``, ``token_type_ids`` -> ``logits``
  ``[batch, 1]``: seeded random word embeddings (special tokens zero), mean-pooled
  separately over the query tokens (type 0) and the document tokens (type 1), scored by
  the cosine of the two means times 10.

So the score rises with the words (and word pieces) a document shares with the query:
a lexical scorer, with no knowledge of meaning, but a true cross-encoder in shape and
in how fastembed runs it. The same arguments always give byte-identical files.

Example::

    python -m agentmem_plugins.testing.tiny_cross_encoder --out /tmp/tiny-reranker

    from agentmem_plugins.rerankers import FastEmbedReranker
    reranker = FastEmbedReranker(model_path="/tmp/tiny-reranker")

Needs the ``onnx`` package (``pip install "agentmem-plugins[model]"``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .tiny_model import (
    MAX_LENGTH,
    _require_onnx,
    _save_onnx,
    _start,
    _word_embeddings,
    _write_json,
)

__all__ = ["build_tiny_cross_encoder"]


def _write_onnx(out: Path, vocab_size: int, dim: int, seed: int) -> None:
    _require_onnx("tiny cross-encoder")
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    word = _word_embeddings(rng, vocab_size, dim)

    def init(name: str, arr: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(arr, name=name)

    n = helper.make_node
    nodes = [
        n("Gather", ["word_embeddings", "input_ids"], ["tok"], axis=0),
        n("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        n("Cast", ["token_type_ids"], ["doc"], to=TensorProto.FLOAT),
        n("Mul", ["mask", "doc"], ["doc_mask"]),  # [b, s]
        n("Sub", ["mask", "doc_mask"], ["query_mask"]),
    ]
    for side in ("query", "doc"):
        nodes += [
            n("Unsqueeze", [f"{side}_mask", "last_axis"], [f"{side}_m3"]),
            n("Mul", ["tok", f"{side}_m3"], [f"{side}_tok"]),
            n("ReduceSum", [f"{side}_tok", "seq_axis"], [f"{side}_sum"], keepdims=0),  # [b, d]
            n("Mul", [f"{side}_sum", f"{side}_sum"], [f"{side}_sq"]),
            n("ReduceSum", [f"{side}_sq", "last_axis"], [f"{side}_n2"], keepdims=1),  # [b, 1]
            n("Add", [f"{side}_n2", "eps"], [f"{side}_n2e"]),
            n("Sqrt", [f"{side}_n2e"], [f"{side}_norm"]),
            n("Div", [f"{side}_sum", f"{side}_norm"], [f"{side}_unit"]),
        ]
    nodes += [
        n("Mul", ["query_unit", "doc_unit"], ["prod"]),
        n("ReduceSum", ["prod", "last_axis"], ["cos"], keepdims=1),  # [b, 1]
        n("Mul", ["cos", "scale"], ["logits"]),
    ]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])
    _save_onnx(
        out,
        nodes,
        "agentmem_tiny_cross_encoder",
        output,
        initializer=[
            init("word_embeddings", word),
            init("last_axis", np.array([-1], dtype=np.int64)),
            init("seq_axis", np.array([1], dtype=np.int64)),
            init("eps", np.array(1e-6, dtype=np.float32)),
            init("scale", np.array(10.0, dtype=np.float32)),
        ],
    )


def build_tiny_cross_encoder(
    out_dir: str | Path, *, vocab_size: int = 6000, dim: int = 64, seed: int = 0
) -> Path:
    """Write the tiny cross-encoder's files into ``out_dir`` (created if needed)."""
    out = _start(out_dir, vocab_size, dim)
    _write_onnx(out, vocab_size, dim, seed)
    _write_json(
        out / "config.json",
        {
            "model_type": "agentmem-tiny-cross-encoder",
            "hidden_size": dim,
            "vocab_size": vocab_size,
            "type_vocab_size": 2,
            "max_position_embeddings": MAX_LENGTH,
            "pad_token_id": 0,
            "seed": seed,
            "num_labels": 1,
        },
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m agentmem_plugins.testing.tiny_cross_encoder",
        description="Build the project's tiny ONNX cross-encoder (no download).",
    )
    parser.add_argument("--out", required=True, help="folder to write the model into")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = build_tiny_cross_encoder(args.out, seed=args.seed)
    print(f"wrote {out}; load with FastEmbedReranker(model_path={str(out)!r})")


if __name__ == "__main__":
    main()

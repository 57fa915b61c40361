"""Build a tiny ONNX text-embedding model of this project's own making.

Tests and benchmarks need a real model that loads through fastembed's real code path
(ONNX Runtime session, HuggingFace tokenizer, mean pooling) without downloading
weights. This module writes one into a folder, from nothing but a seed:

* ``tokenizer.json``: a BERT-style WordPiece tokenizer (lowercasing, accent stripping,
  ``[CLS] ... [SEP]``) over a vocabulary generated here: special tokens, characters,
  common English words and suffixes, then the most frequent word pieces;
* ``model.onnx``: ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64,
  ``[batch, seq]``) -> ``last_hidden_state`` (float32, ``[batch, seq, dim]``): a token
  and a token-type embedding lookup, one residual ``tanh(x W + b)`` layer, LayerNorm,
  masked by the attention mask. Seeded random weights; special tokens embed to zero so
  they do not pull every text together;
* ``config.json``, ``tokenizer_config.json``, ``special_tokens_map.json``: what
  fastembed's ``load_tokenizer`` reads (max length, pad token and id, special tokens).

Mean pooling of random word embeddings makes texts that share words (or word pieces,
e.g. "like" + "##s") closer than unrelated ones; it knows nothing else about meaning.
The same arguments always give byte-identical files.

Example::

    python -m agentmem_plugins.testing.tiny_model --out /tmp/tiny-model

or from Python::

    from agentmem_plugins.embeddings import FastEmbedEmbedder
    from agentmem_plugins.testing.tiny_model import build_tiny_model

    emb = FastEmbedEmbedder(model_path=build_tiny_model("/tmp/tiny-model"))

Needs the ``onnx`` package (``pip install "agentmem-plugins[model]"``).
"""

from __future__ import annotations

import argparse
import json
import string
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["build_tiny_model"]

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_LENGTH = 512

# ~600 frequent English words (function words, everyday nouns, verbs, adjectives).
_WORDS = """
the of and to a in is it you that he was for on are with as i his they be at one have this
from or had by not word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no
most people my over know water than call first who may down side been now find any new work
part take get place made live where after back little only round man year came show every
good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must big high
such follow act why ask men change went light kind off need house picture try us again animal
point mother world near build self earth father head stand own page should country found
answer school grow study still learn plant cover food sun four between state keep eye never
last let thought city tree cross farm hard start might story saw far sea draw left late run
while press close night real life few north open seem together next white children begin got
walk example ease paper group always music those both mark often letter until mile river car
feet care second book carry took science eat room friend began idea fish mountain stop once
base hear horse cut sure watch color face wood main enough plain girl usual young ready above
ever red list though feel talk bird soon body dog family direct pose leave song measure door
product black short numeral class wind question happen complete ship area half rock order
fire south problem piece told knew pass since top whole king space heard best hour better
true during hundred five remember step early hold west ground interest reach fast verb sing
listen six table travel less morning ten simple several vowel toward war lay against pattern
slow center love person money serve appear road map rain rule govern pull cold notice voice
unit power town fine certain fly fall lead cry dark machine note wait plan figure star box
noun field rest correct able pound done beauty drive stood contain front teach week final
gave green oh quick develop ocean warm free minute strong special mind behind clear tail
produce fact street inch multiply nothing course stay wheel full force blue object decide
surface deep moon island foot system busy test record boat common gold possible plane stead
dry wonder laugh thousand ago ran check game shape equate hot miss brought heat snow tire
bring yes distant fill east paint language among tea coffee milk coke juice wine beer bread
cheese pizza pasta rice soup salad apple banana orange lemon sugar salt chocolate cake cookie
breakfast lunch dinner meal kitchen cook bake office job company team meeting project email
phone computer laptop code python java software data server bug release user customer client
manager boss doctor nurse teacher student friend wife husband son daughter brother sister
baby cat pet hobby sport soccer football tennis chess guitar piano movie film show game
vacation trip flight hotel beach park garden summer winter spring autumn monday tuesday
wednesday thursday friday saturday sunday january february march april may june july august
september october november december today yesterday tomorrow birthday party gift allergic
allergy vegan vegetarian favorite prefer hate enjoy lives moved born married works likes
loves wants needs bought sold paid price cheap expensive stock market bank account health
sick pain hospital medicine sleep tired happy sad angry afraid calm blue purple yellow
brown gray pink berlin paris london tokyo york alice bob carol dave
"""

# fmt: off
_SUFFIXES = [
    "s", "es", "ed", "d", "ing", "ly", "er", "ers", "est", "ion", "tion", "sion", "ment",
    "ness", "able", "ible", "ful", "less", "ity", "al", "ic", "ous", "ive", "y", "ies", "ied",
    "en", "ism", "ist", "ize", "ise", "ance", "ence", "ship",
]
# fmt: on


def _vocabulary(vocab_size: int) -> list[str]:
    """A deterministic WordPiece vocabulary of exactly ``vocab_size`` entries."""
    words = sorted(set(_WORDS.split()))
    chars = list(string.ascii_lowercase + string.digits)
    vocab: dict[str, None] = dict.fromkeys(SPECIAL_TOKENS)
    vocab.update(dict.fromkeys(chars + list(string.punctuation)))
    vocab.update(dict.fromkeys("##" + c for c in chars))
    vocab.update(dict.fromkeys("##" + s for s in _SUFFIXES))
    vocab.update(dict.fromkeys(words))

    # then the most frequent word-initial pieces and continuation pieces (2-4 letters)
    pieces: Counter[str] = Counter()
    for w in words:
        for n in (2, 3, 4):
            for i in range(len(w) - n + 1):
                pieces[w[i : i + n] if i == 0 else "##" + w[i : i + n]] += 1
    ranked = sorted(pieces, key=lambda p: (-pieces[p], p))
    # and, if still short, all two-letter pieces, then three-letter continuations
    letters = string.ascii_lowercase
    two = [a + b for a in letters for b in letters]
    fill = two + ["##" + p for p in two] + ["##" + p + c for p in two for c in letters]
    for piece in ranked + fill:
        if len(vocab) >= vocab_size:
            break
        vocab.setdefault(piece, None)
    if len(vocab) < vocab_size:
        raise ValueError(f"vocab_size {vocab_size} is larger than this generator can fill")
    return list(vocab)[:vocab_size]


def _write_tokenizer(out: Path, vocab: list[str]) -> None:
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    ids = {tok: i for i, tok in enumerate(vocab)}
    tok = Tokenizer(WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(SPECIAL_TOKENS)
    tok.save(str(out / "tokenizer.json"))

    special = {
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    _write_json(out / "special_tokens_map.json", special)
    _write_json(
        out / "tokenizer_config.json",
        {
            **special,
            "tokenizer_class": "BertTokenizerFast",
            "do_lower_case": True,
            "model_max_length": MAX_LENGTH,
            "padding_side": "right",
            "truncation_side": "right",
        },
    )


def _require_onnx(model: str) -> None:
    """An ImportError naming the extra when ``onnx`` is missing (``model``: what is built)."""
    try:
        import onnx  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f'building the {model} needs onnx: pip install "agentmem-plugins[model]"'
        ) from exc


def _word_embeddings(rng: np.random.Generator, vocab_size: int, dim: int) -> np.ndarray:
    """Seeded random token embeddings; the special tokens' rows are zero."""
    word = rng.standard_normal((vocab_size, dim)).astype(np.float32)
    word[: len(SPECIAL_TOKENS)] = 0.0  # [PAD], [CLS], ... carry no meaning
    return word


def _save_onnx(out: Path, nodes: list[Any], name: str, output: Any, initializer: list[Any]) -> None:
    """Check the graph of ``nodes`` over the BERT inputs (``input_ids``, ``attention_mask``,
    ``token_type_ids``: int64 ``[batch, sequence]``) and write it as ``out/model.onnx``."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info(column, TensorProto.INT64, ["batch", "sequence"])
        for column in ("input_ids", "attention_mask", "token_type_ids")
    ]
    graph = helper.make_graph(nodes, name, inputs, [output], initializer=initializer)
    model = helper.make_model(
        graph,
        producer_name="agentmem-plugins",
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8  # readable by onnxruntime >= 1.14
    onnx.checker.check_model(model)
    (out / "model.onnx").write_bytes(model.SerializeToString())


def _start(out_dir: str | Path, vocab_size: int, dim: int) -> Path:
    """Check the sizes, create ``out_dir`` and write the tokenizer files into it."""
    if vocab_size < 500:
        raise ValueError(f"vocab_size must be >= 500, got {vocab_size}")
    if dim < 4:
        raise ValueError(f"dim must be >= 4, got {dim}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_tokenizer(out, _vocabulary(vocab_size))
    return out


def _write_onnx(out: Path, vocab_size: int, dim: int, seed: int) -> None:
    _require_onnx("tiny model")
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    word = _word_embeddings(rng, vocab_size, dim)
    token_type = np.zeros((2, dim), dtype=np.float32)
    token_type[1] = 0.1 * rng.standard_normal(dim).astype(np.float32)
    weight = (0.5 / np.sqrt(dim) * rng.standard_normal((dim, dim))).astype(np.float32)
    bias = np.zeros(dim, dtype=np.float32)
    gamma = np.ones(dim, dtype=np.float32)
    beta = np.zeros(dim, dtype=np.float32)

    def init(name: str, arr: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(arr, name=name)

    nodes = [
        helper.make_node("Gather", ["word_embeddings", "input_ids"], ["tok"], axis=0),
        helper.make_node("Gather", ["token_type_embeddings", "token_type_ids"], ["typ"], axis=0),
        helper.make_node("Add", ["tok", "typ"], ["x"]),
        helper.make_node("MatMul", ["x", "dense_weight"], ["xw"]),
        helper.make_node("Add", ["xw", "dense_bias"], ["xwb"]),
        helper.make_node("Tanh", ["xwb"], ["act"]),
        helper.make_node("Add", ["x", "act"], ["res"]),
        helper.make_node(
            "LayerNormalization", ["res", "ln_gamma", "ln_beta"], ["ln"], axis=-1, epsilon=1e-5
        ),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "last_axis"], ["mask_3d"]),
        helper.make_node("Mul", ["ln", "mask_3d"], ["last_hidden_state"]),
    ]
    output = helper.make_tensor_value_info(
        "last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", dim]
    )
    _save_onnx(
        out,
        nodes,
        "agentmem_tiny_embedder",
        output,
        initializer=[
            init("word_embeddings", word),
            init("token_type_embeddings", token_type),
            init("dense_weight", weight),
            init("dense_bias", bias),
            init("ln_gamma", gamma),
            init("ln_beta", beta),
            init("last_axis", np.array([-1], dtype=np.int64)),
        ],
    )


def _write_json(path: Path, data: Mapping[str, object]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def build_tiny_model(
    out_dir: str | Path, *, vocab_size: int = 6000, dim: int = 128, seed: int = 0
) -> Path:
    """Write the tiny model's files into ``out_dir`` (created if needed); return it.

    Load it with ``FastEmbedEmbedder(model_path=out_dir)`` (mean pooling, normalised).
    """
    out = _start(out_dir, vocab_size, dim)
    _write_onnx(out, vocab_size, dim, seed)
    _write_json(
        out / "config.json",
        {
            "model_type": "agentmem-tiny",
            "hidden_size": dim,
            "vocab_size": vocab_size,
            "type_vocab_size": 2,
            "num_hidden_layers": 1,
            "max_position_embeddings": MAX_LENGTH,
            "pad_token_id": 0,
            "seed": seed,
            "pooling": "mean",
        },
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m agentmem_plugins.testing.tiny_model",
        description="Build the project's tiny ONNX embedding model (no download).",
    )
    parser.add_argument("--out", required=True, help="folder to write the model into")
    parser.add_argument("--vocab-size", type=int, default=6000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = build_tiny_model(args.out, vocab_size=args.vocab_size, dim=args.dim, seed=args.seed)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(
        f"wrote {out} ({size / 1e6:.1f} MB); load with FastEmbedEmbedder(model_path={str(out)!r})"
    )


if __name__ == "__main__":
    main()

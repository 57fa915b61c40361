"""``FastEmbedEmbedder``: ONNX embedding models through fastembed.

Two ways to name a model:

* a fastembed model name (default ``BAAI/bge-small-en-v1.5``), taken from the local
  cache or downloaded from the HuggingFace Hub;
* ``model_path=``: a local folder with ``model.onnx`` (or ``onnx/model.onnx``) and the
  tokenizer files (``tokenizer.json``, ``tokenizer_config.json``, optionally
  ``config.json`` and ``special_tokens_map.json``). It goes through fastembed's own
  custom-model path (``TextEmbedding.add_custom_model`` + ``specific_model_path``), so
  tokenisation, batching and pooling are fastembed's, not a copy of them.

Loading is eager: the constructor loads the model and embeds one probe text. A missing
or broken model then fails where the user configured it, with one clear
:class:`EmbedderError`, instead of inside a background worker on the first ``add``;
and ``dim`` is known before a store is opened (the store records it, invariant 5).

A missing model costs about a second, not the ~40 s of fastembed's download retries:
the local cache is tried first with ``local_files_only=True``; a download is only
attempted when allowed (``local_files_only`` not true, ``HF_HUB_OFFLINE`` unset) and, in
the default automatic mode, when the Hub answers a one-second connection probe.

``fastembed`` itself is imported only when an embedder is built, so importing
``agentmem_plugins`` stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ConfigError, EmbedderError
from ._buckets import embed_by_length
from ._hub import load_from_hub
from ._normalize import l2_normalize

__all__ = ["FastEmbedEmbedder"]

DEFAULT_MODEL = "BAAI/bge-small-en-v1.5"
DEFAULT_BATCH_SIZE = 16
_LOCAL_PREFIX = "agentmem-local"

# fastembed's custom-model registry is class-level and process-wide, and registering a
# name twice raises; registrations go through this lock and are looked up first.
_REGISTRY_LOCK = threading.Lock()


class FastEmbedEmbedder:
    """Embeds texts with an ONNX model through fastembed (ONNX Runtime, CPU by default).

    Example::

        from agentmem_plugins.embeddings import FastEmbedEmbedder

        emb = FastEmbedEmbedder()                       # BAAI/bge-small-en-v1.5, 384-d
        emb = FastEmbedEmbedder(model_path="./my-onnx-model", threads=2)
        vectors = emb.embed_documents(["Alice likes green tea", "Bob plays chess"])
        query = emb.embed_query("what does Alice drink?")

    Args:
        model_name: a fastembed model name; ignored for naming when ``model_path`` is set.
        model_path: a local model folder (see the module docstring); no network is used.
        cache_dir: fastembed's cache folder (default: ``FASTEMBED_CACHE_PATH`` or a
            ``fastembed_cache`` folder in the temp directory).
        threads: ONNX Runtime intra-op threads (default: all cores).
        batch_size: texts per ONNX Runtime run inside one ``embed_documents`` call; the
            texts are sorted by token count first, so each run pads little (the default,
            16, was the fastest measured on a quiet machine, see BENCHMARKS.md).
        cpu_mem_arena: ONNX Runtime's CPU memory arena (default on: measured no slower,
            see BENCHMARKS.md); off returns memory to the system between runs.
        local_files_only: ``True``: never download; ``False``: download if not cached;
            ``None`` (default): download only if the Hub is reachable right now.
        pooling: for ``model_path`` models, ``"mean"`` (default) or ``"cls"``; vectors
            are always L2-normalised.

    Raises:
        EmbedderError: the model cannot be found or loaded; the message says what to do.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        model_path: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        local_files_only: bool | None = None,
        pooling: str = "mean",
        cpu_mem_arena: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self._batch_size = batch_size
        self._cache_dir = None if cache_dir is None else str(cache_dir)
        self._threads = threads
        self._session_options = {"enable_cpu_mem_arena": cpu_mem_arena}
        if model_path is not None:
            folder = Path(model_path)
            self._model_name, self._name = self._register_local(folder, pooling)
            self._model = self._load_local(folder)
        else:
            self._model_name = model_name
            self._name = f"fastembed:{model_name}"
            self._model = self._load_hub(model_name, local_files_only)
        self._dim = self._probe_dim()
        self._counter = _token_counter(self._model)

    # -- Embedder protocol --------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_name(self) -> str:
        """The name fastembed knows the model by (a generated one for ``model_path``)."""
        return self._model_name

    def __repr__(self) -> str:
        return f"FastEmbedEmbedder(name={self._name!r}, dim={self._dim})"

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text (with special tokens, before truncation), no padding."""
        if self._counter is None:  # a model without a HF tokenizer: characters will do
            return [len(t) for t in texts]
        return [len(e.ids) for e in self._counter.encode_batch(list(texts))]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch: sorted by token count, run in buckets of ``batch_size``, rows
        returned in the order of ``texts``."""
        if len(texts) == 0:
            return np.zeros((0, self._dim), dtype=np.float32)
        try:
            lengths = self.token_counts(texts) if len(texts) > 1 else [0]
            return embed_by_length(self._embed_bucket, texts, lengths, self._batch_size)
        except Exception as exc:
            raise EmbedderError(f"{self._name} failed to embed {len(texts)} texts: {exc}") from exc

    def _embed_bucket(self, texts: list[str]) -> np.ndarray:
        return _normalized(np.stack(list(self._model.embed(texts, batch_size=len(texts)))))

    def embed_query(self, text: str) -> np.ndarray:
        try:
            rows = list(self._model.query_embed(text))
        except Exception as exc:
            raise EmbedderError(f"{self._name} failed to embed a query: {exc}") from exc
        vector: np.ndarray = _normalized(np.stack(rows))[0]
        return vector

    # -- loading ------------------------------------------------------------------

    def _text_embedding(self, model_name: str, **kwargs: Any) -> Any:
        from fastembed import TextEmbedding

        return TextEmbedding(
            model_name,
            cache_dir=self._cache_dir,
            threads=self._threads,
            extra_session_options=self._session_options,
            **kwargs,
        )

    def _load_hub(self, model_name: str, local_files_only: bool | None) -> Any:
        from fastembed import TextEmbedding

        instead = (
            "pass a local ONNX model folder (FastEmbedEmbedder(model_path=...) or "
            "embedder='fastembed:/path/to/dir'), or use embedder='hash' (offline, no weights)."
        )
        return load_from_hub(
            self._text_embedding,
            model_name,
            known=(m["model"] for m in TextEmbedding.list_supported_models()),
            local_files_only=local_files_only,
            what=f"embedding model (cache {self._cache_dir or 'default'})",
            unknown_hint="Use a name from fastembed.TextEmbedding.list_supported_models(), or "
            + instead,
            offline_hint=instead,
        )

    def _register_local(self, folder: Path, pooling: str) -> tuple[str, str]:
        """Register the folder's model with fastembed (once per content); return names."""
        from fastembed import TextEmbedding
        from fastembed.common.model_description import ModelSource, PoolingType
        from fastembed.text.custom_text_embedding import CustomTextEmbedding

        model_file = _check_folder(folder)
        try:
            pool = PoolingType[pooling.upper()]
        except KeyError:
            raise EmbedderError(f"pooling must be 'mean' or 'cls', got {pooling!r}") from None
        digest = _fingerprint(folder, model_file, pool.value)
        # named by content, not by path: moving or renaming the folder keeps the
        # embedding space (and so the store) valid; changing the weights does not
        fastembed_name = f"{_LOCAL_PREFIX}/{digest}"
        with _REGISTRY_LOCK:
            registered = {m.model.lower() for m in CustomTextEmbedding._list_supported_models()}
            if fastembed_name.lower() not in registered:
                try:
                    TextEmbedding.add_custom_model(
                        model=fastembed_name,
                        pooling=pool,
                        normalization=True,
                        # never used to download: specific_model_path wins
                        sources=ModelSource(hf=fastembed_name),
                        dim=_declared_dim(folder, model_file),
                        model_file=model_file,
                        description=f"local model folder {folder}",
                    )
                except ValueError as exc:  # registered by someone else meanwhile
                    if "already registered" not in str(exc):
                        raise EmbedderError(f"cannot register {folder}: {exc}") from exc
        return fastembed_name, f"fastembed:local-{digest}"

    def _load_local(self, folder: Path) -> Any:
        try:
            return self._text_embedding(
                self._model_name, specific_model_path=str(folder), local_files_only=True
            )
        except Exception as exc:
            raise EmbedderError(f"Could not load the ONNX model in {folder}: {exc}") from exc

    def _probe_dim(self) -> int:
        """Embed one text: proves the model runs and gives its true dimension."""
        try:
            probe = np.asarray(next(iter(self._model.embed(["probe"], batch_size=1))))
        except Exception as exc:
            raise EmbedderError(f"{self._name} loaded but cannot embed: {exc}") from exc
        if probe.ndim != 1 or probe.size == 0:
            raise EmbedderError(
                f"{self._name} returns embeddings of shape {probe.shape}; expected one "
                "vector per text (check pooling and the model's output)"
            )
        return int(probe.size)


# -- helpers ---------------------------------------------------------------------


def _token_counter(model: Any) -> Any:
    """An unpadded copy of the model's HuggingFace tokenizer (``None`` if it has none).

    fastembed's own tokenizer pads every batch to its longest text, which hides the
    lengths we sort by; the copy shares the vocabulary and truncation.
    """
    tokenizer = getattr(getattr(model, "model", None), "tokenizer", None)
    if tokenizer is None or not hasattr(tokenizer, "to_str"):
        return None
    from tokenizers import Tokenizer

    counter = Tokenizer.from_str(tokenizer.to_str())
    counter.no_padding()
    return counter


def _normalized(arr: np.ndarray) -> np.ndarray:
    return l2_normalize(arr)


def _check_folder(folder: Path) -> str:
    """The model file's path inside ``folder``; EmbedderError if files are missing."""
    if not folder.is_dir():
        raise EmbedderError(
            f"model_path {str(folder)!r} is not a folder. Pass a folder holding model.onnx "
            "and tokenizer files, or use embedder='hash' (offline, no weights)."
        )
    model_file = next(
        (f for f in ("model.onnx", "onnx/model.onnx") if (folder / f).is_file()), None
    )
    missing = [f for f in ("tokenizer.json", "tokenizer_config.json") if not (folder / f).is_file()]
    if model_file is None:
        missing.insert(0, "model.onnx (or onnx/model.onnx)")
    if missing:
        raise EmbedderError(
            f"model folder {str(folder)!r} lacks {', '.join(missing)}. A fastembed model "
            "folder needs model.onnx, tokenizer.json and tokenizer_config.json "
            "(python -m agentmem_plugins.testing.tiny_model --out DIR builds a test one)."
        )
    assert model_file is not None
    return model_file


def _fingerprint(folder: Path, model_file: str, pooling: str) -> str:
    """A short hash of everything that changes the vectors: weights, tokenizer, pooling."""
    h = hashlib.blake2b(digest_size=6)
    h.update(f"{model_file}\0{pooling}\0".encode())
    for name in (model_file, "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        if path.is_file():
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):  # noqa: B023
                    h.update(block)
    return h.hexdigest()


def _declared_dim(folder: Path, model_file: str) -> int:
    """The dimension fastembed's registry wants before loading; the probe checks it."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        for key in ("hidden_size", "dim", "d_model"):
            if isinstance(config.get(key), int) and config[key] > 0:
                return int(config[key])
    except (OSError, ValueError):
        pass
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(folder / model_file), providers=["CPUExecutionProvider"])
        last = session.get_outputs()[0].shape[-1]
    except Exception as exc:
        raise EmbedderError(f"Could not read the ONNX model in {folder}: {exc}") from exc
    if not isinstance(last, int):
        raise EmbedderError(
            f"Cannot tell the embedding size of {folder}: add hidden_size to its config.json"
        )
    return last

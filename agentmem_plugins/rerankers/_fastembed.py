"""``FastEmbedReranker``: cross-encoder reranking through fastembed's ``TextCrossEncoder``.

Like :class:`~agentmem_plugins.embeddings.FastEmbedEmbedder`, a model is named either

* by fastembed name (default ``Xenova/ms-marco-MiniLM-L-6-v2``), from the local cache
  or downloaded (only when the Hub answers a one-second probe, unless told otherwise);
* or by ``model_path=``: a local folder with ``model.onnx`` (or ``onnx/model.onnx``) and
  the tokenizer files, registered with fastembed's custom cross-encoder path, so
  tokenisation (query/document pairs) and batching are fastembed's own.

Loading is eager and ends with one probe pair, so a broken model fails where it is
configured.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import ConfigError, EmbedderError
from ..embeddings._fastembed import _check_folder, _fingerprint
from ..embeddings._hub import load_from_hub

__all__ = ["DEFAULT_RERANKER", "FastEmbedReranker"]

DEFAULT_RERANKER = "Xenova/ms-marco-MiniLM-L-6-v2"
_LOCAL_PREFIX = "agentmem-local-reranker"
_REGISTRY_LOCK = threading.Lock()


class FastEmbedReranker:
    """A cross-encoder run by fastembed (ONNX Runtime, CPU).

    Example::

        from agentmem_plugins.rerankers import FastEmbedReranker

        reranker = FastEmbedReranker()                          # ms-marco MiniLM-L-6
        reranker = FastEmbedReranker(model_path="./my-cross-encoder")
        scores = reranker.rerank("what does Alice drink?", ["Alice likes tea", "Bob runs"])

    Args:
        model_name: a fastembed cross-encoder name (``TextCrossEncoder.list_supported_models()``).
        model_path: a local cross-encoder folder; no network is used.
        cache_dir, threads: as for ``FastEmbedEmbedder``.
        batch_size: query/document pairs per ONNX Runtime run.
        local_files_only: ``True``: never download; ``None``: only if the Hub answers.

    Raises:
        EmbedderError: the model cannot be found or loaded; the message says what to do.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_RERANKER,
        *,
        model_path: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        threads: int | None = None,
        batch_size: int = 32,
        local_files_only: bool | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self._batch_size = batch_size
        self._cache_dir = None if cache_dir is None else str(cache_dir)
        self._threads = threads
        if model_path is not None:
            folder = Path(model_path)
            self._model_name = self._register_local(folder)
            self._name = f"fastembed-rerank:local-{self._model_name.rsplit('/', 1)[-1]}"
            self._model = self._load(self._model_name, specific_model_path=str(folder),
                                     local_files_only=True)
        else:
            self._model_name = model_name
            self._name = f"fastembed-rerank:{model_name}"
            self._model = self._load_hub(model_name, local_files_only)
        self.rerank("probe", ["probe"])

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"FastEmbedReranker(name={self._name!r})"

    def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        """One relevance score per document (raw logits: higher is more relevant)."""
        if not documents:
            return []
        try:
            scores = self._model.rerank(query, list(documents), batch_size=self._batch_size)
            return [float(s) for s in scores]
        except Exception as exc:
            raise EmbedderError(f"{self._name} failed to rerank: {exc}") from exc

    def _load(self, model_name: str, **kwargs: Any) -> Any:
        from fastembed.rerank.cross_encoder import TextCrossEncoder

        try:
            return TextCrossEncoder(
                model_name, cache_dir=self._cache_dir, threads=self._threads, **kwargs
            )
        except Exception as exc:
            raise EmbedderError(f"Could not load the reranker {model_name!r}: {exc}") from exc

    def _load_hub(self, model_name: str, local_files_only: bool | None) -> Any:
        from fastembed.rerank.cross_encoder import TextCrossEncoder

        return load_from_hub(
            self._load,
            model_name,
            known=(m["model"] for m in TextCrossEncoder.list_supported_models()),
            local_files_only=local_files_only,
            what="cross-encoder",
            unknown_hint="Use a name from fastembed.rerank.cross_encoder.TextCrossEncoder"
            ".list_supported_models() or a local model folder "
            "(FastEmbedReranker(model_path=...)).",
            offline_hint="pass a local model folder (FastEmbedReranker(model_path=...)).",
        )

    def _register_local(self, folder: Path) -> str:
        from fastembed.common.model_description import ModelSource
        from fastembed.rerank.cross_encoder import TextCrossEncoder
        from fastembed.rerank.cross_encoder.custom_text_cross_encoder import (
            CustomTextCrossEncoder,
        )

        model_file = _check_folder(folder)
        name = f"{_LOCAL_PREFIX}/{_fingerprint(folder, model_file, 'cross-encoder')}"
        with _REGISTRY_LOCK:
            known = {m.model.lower() for m in CustomTextCrossEncoder._list_supported_models()}
            if name.lower() not in known:
                TextCrossEncoder.add_custom_model(
                    model=name,
                    sources=ModelSource(hf=name),  # never used: specific_model_path wins
                    model_file=model_file,
                    description=f"local cross-encoder folder {folder}",
                )
        return name

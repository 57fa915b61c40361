"""``make_reranker``: turn the ``reranker`` config value into a :class:`Reranker`."""

from __future__ import annotations

from .._errors import ConfigError
from ..embeddings._factory import model_folder
from ._protocol import Reranker

__all__ = ["as_reranker", "make_reranker"]

_FORMS = (
    "'fastembed' or 'fastembed:<cross-encoder name or local model folder>', "
    "or an object with name and rerank(query, documents)"
)


def make_reranker(spec: str | Reranker | None) -> Reranker | None:
    """Build the reranker a spec names (``None``: no reranker).

    Example::

        >>> make_reranker(None) is None
        True

    ``"fastembed"`` alone is ``Xenova/ms-marco-MiniLM-L-6-v2``; ``"fastembed:<x>"`` is
    a local folder when ``<x>`` is a directory or written as a path, else a model name.

    Raises:
        ConfigError: the spec is none of the accepted forms.
    """
    if spec is None:
        return None
    if not isinstance(spec, str):
        if isinstance(spec, Reranker):
            return spec
        raise ConfigError(f"reranker: {type(spec).__name__} is not a reranker; use {_FORMS}")
    kind, sep, arg = spec.strip().partition(":")
    if kind.strip().lower() != "fastembed":
        raise ConfigError(f"reranker: unknown value {spec!r}; use {_FORMS}")
    from ._fastembed import DEFAULT_RERANKER, FastEmbedReranker

    arg = arg.strip()
    if not sep:
        return FastEmbedReranker(DEFAULT_RERANKER)
    if not arg:
        raise ConfigError(f"reranker: {spec!r} names no model; use {_FORMS}")
    folder = model_folder(arg)
    return FastEmbedReranker(arg) if folder is None else FastEmbedReranker(model_path=folder)


def as_reranker(value: Reranker | str) -> Reranker:
    """``value`` if it is a :class:`Reranker`, else the reranker its spec string names:
    what the framework bridges (LangChain, LlamaIndex) take.

    Raises:
        TypeError: ``value`` is neither a reranker nor a string.
        ConfigError: the string is none of :func:`make_reranker`'s forms.
    """
    core = make_reranker(value) if isinstance(value, str) else value
    if not isinstance(core, Reranker):
        raise TypeError(
            "reranker must be a core Reranker (name, rerank(query, documents)) or a spec "
            f"string, got {type(value).__name__}"
        )
    return core

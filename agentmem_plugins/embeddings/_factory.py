"""``make_embedder``: turn the ``embedder`` config value into an :class:`Embedder`."""

from __future__ import annotations

from pathlib import Path

from .._errors import ConfigError
from ._hash import HashEmbedder
from ._protocol import Embedder

__all__ = ["make_embedder", "model_folder"]

_FORMS = (
    "'hash' or 'hash:<dim>' (offline, no weights), "
    "'fastembed' or 'fastembed:<model name or local model folder>', "
    "'offline' (all-MiniLM-L6-v2 int8 from pip: agentmem-plugins[offline]), "
    "'none' (you always pass vectors), or an object with name, dim, "
    "embed_documents(texts) and embed_query(text)"
)


def make_embedder(spec: str | Embedder | None) -> Embedder | None:
    """Build the embedder a spec names; ``None`` means no embedder (precomputed vectors).

    Example::

        >>> make_embedder("hash:512").name
        'hash-v1-512'
        >>> make_embedder("none") is None
        True

    ``"fastembed:<x>"`` loads a local model folder when ``<x>`` is an existing
    directory or is written as a path (absolute, ``./``, ``../``, ``~``), else the
    fastembed model named ``<x>``; ``"fastembed"`` alone is
    ``BAAI/bge-small-en-v1.5``. ``"offline"`` is all-MiniLM-L6-v2 (int8) assembled
    from pip-installed files (``agentmem_plugins.models.offline``). Models load
    eagerly, so a missing one raises :class:`~agentmem_plugins.EmbedderError` here.

    Raises:
        ConfigError: the spec is none of the accepted forms.
    """
    if spec is None:
        return None
    if not isinstance(spec, str):
        if isinstance(spec, Embedder):
            return spec
        raise ConfigError(f"embedder: {type(spec).__name__} is not an embedder; use {_FORMS}")

    text = spec.strip()
    kind, sep, arg = text.partition(":")
    kind = kind.strip().lower()
    arg = arg.strip()
    if kind == "none" and not sep:
        return None
    if kind == "hash":
        if not sep:
            return HashEmbedder()
        try:
            dim = int(arg)
        except ValueError:
            dim = 0
        if dim < 8:
            raise ConfigError(
                f"embedder: {spec!r} needs an integer dimension >= 8, e.g. 'hash:512'"
            )
        return HashEmbedder(dim)
    if kind == "fastembed":
        from ._fastembed import DEFAULT_MODEL, FastEmbedEmbedder

        if not sep:
            return FastEmbedEmbedder(DEFAULT_MODEL)
        if not arg:
            raise ConfigError(f"embedder: {spec!r} names no model; use {_FORMS}")
        folder = model_folder(arg)
        return FastEmbedEmbedder(arg) if folder is None else FastEmbedEmbedder(model_path=folder)
    if kind == "offline" and not sep:
        from ..models.offline import offline_model_dir
        from ._fastembed import FastEmbedEmbedder

        return FastEmbedEmbedder(model_path=offline_model_dir())
    raise ConfigError(f"embedder: unknown value {spec!r}; use {_FORMS}")


def model_folder(arg: str) -> Path | None:
    """The local model folder ``arg`` of a ``"fastembed:<arg>"`` spec names, or ``None``
    when it is a model name (the embedder's and the reranker's specs alike).

    "org/name" is a model name; an existing folder, or anything written like a path
    (absolute, ./, ../, ~), is a local model folder (and a clear error if absent).
    """
    path = Path(arg).expanduser()
    if path.is_dir() or path.is_absolute() or arg.startswith((".", "~")):
        return path
    return None

"""Rerankers: a second, finer ranking of a search's top candidates by a cross-encoder.

``fastembed`` is imported only when a :class:`FastEmbedReranker` is built.
"""

from ._factory import make_reranker
from ._fastembed import FastEmbedReranker
from ._protocol import Reranker

__all__ = ["FastEmbedReranker", "Reranker", "make_reranker"]

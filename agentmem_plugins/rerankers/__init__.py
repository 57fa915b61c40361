"""Rerankers: a second, finer ranking of a search's top candidates by a cross-encoder.

``fastembed`` is imported only when a :class:`FastEmbedReranker` is built.
"""

from ._factory import as_reranker, make_reranker
from ._fastembed import FastEmbedReranker
from ._protocol import Reranker, rerank_async
from ._scores import scores_in_input_order

__all__ = [
    "FastEmbedReranker",
    "Reranker",
    "as_reranker",
    "make_reranker",
    "rerank_async",
    "scores_in_input_order",
]

"""Embedders: the protocol, a weight-free offline embedder and fastembed.

``fastembed`` (and ONNX Runtime) are imported only when a :class:`FastEmbedEmbedder`
is built, so importing this package stays cheap.
"""

from ._factory import make_embedder
from ._fastembed import FastEmbedEmbedder
from ._hash import HashEmbedder
from ._normalize import l2_normalize
from ._protocol import AsyncEmbedder, Embedder, embed_documents_async, embed_query_async

__all__ = [
    "AsyncEmbedder",
    "Embedder",
    "FastEmbedEmbedder",
    "HashEmbedder",
    "embed_documents_async",
    "embed_query_async",
    "l2_normalize",
    "make_embedder",
]

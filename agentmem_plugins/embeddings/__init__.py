"""Embedders: the protocol, a weight-free offline embedder and fastembed.

``fastembed`` (and ONNX Runtime) are imported only when a :class:`FastEmbedEmbedder`
is built, so importing this package stays cheap.
"""

from ._factory import make_embedder
from ._fastembed import FastEmbedEmbedder
from ._hash import HashEmbedder
from ._protocol import Embedder

__all__ = ["Embedder", "FastEmbedEmbedder", "HashEmbedder", "make_embedder"]

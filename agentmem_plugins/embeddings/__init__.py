"""Embedders: the protocol, a weight-free offline embedder and fastembed."""

from ._protocol import Embedder

__all__ = ["Embedder"]

"""The pgvector table's name, and vectors in pgvector's binary wire format.

A vector goes to PostgreSQL as a 4-byte header (dimension, unused) and big-endian floats
(``float4`` for ``vector``, ``float2`` for ``halfvec``), through a psycopg dumper
registered per connection for the type's oid: no text formatting of floats, and no
extra dependency.
"""

from __future__ import annotations

import functools
import struct
from typing import Any, Literal

import numpy as np

__all__ = ["TABLE", "VectorType"]

TABLE = "memory_vectors"
VectorType = Literal["vector", "halfvec"]


class _Embedding:
    """One vector already in pgvector's binary wire format."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _encode(vectors: np.ndarray, kind: VectorType) -> list[_Embedding]:
    matrix = np.ascontiguousarray(vectors, dtype=">f2" if kind == "halfvec" else ">f4")
    header = struct.pack(">HH", matrix.shape[1], 0)
    return [_Embedding(header + row.tobytes()) for row in matrix]


def _register(dbapi_conn: Any, oid: int) -> None:
    """Teach this psycopg connection to send :class:`_Embedding` as binary ``oid``."""
    dbapi_conn.adapters.register_dumper(_Embedding, _dumper(oid))


@functools.cache
def _dumper(oid: int) -> type:
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class EmbeddingDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: Any) -> bytes:
            return bytes(obj.data)

    EmbeddingDumper.oid = oid
    return EmbeddingDumper

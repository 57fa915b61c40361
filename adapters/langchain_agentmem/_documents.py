"""Scopes and documents, as every LangChain component here maps them onto the core
(the vector store, the classic memory, the tools): the scope a component writes in, and
a core ``MemoryItem`` as a LangChain ``Document``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.documents import Document

from agentmem_plugins import MemoryItem

__all__ = ["make_scope", "scored_documents", "to_document"]


def make_scope(user_id: Any, agent_id: Any, run_id: Any, default: dict[str, Any]) -> dict[str, Any]:
    """The scope fields given (each a non-empty str), else ``default``."""
    scope = {}
    for name, value in (("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id)):
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty str, got {value!r}")
        scope[name] = value
    return scope or dict(default)


def to_document(item: MemoryItem) -> Document:
    return Document(id=item.id, page_content=item.text, metadata=dict(item.metadata))


def scored_documents(hits: Iterable[MemoryItem]) -> list[tuple[Document, float]]:
    """Search hits as LangChain's ``(document, score)`` pairs (an unscored hit: 0.0)."""
    return [(to_document(h), float(h.score or 0.0)) for h in hits]

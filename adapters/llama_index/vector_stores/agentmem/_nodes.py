"""LlamaIndex nodes <-> core memories.

A node is stored as the memory's text, its id, its vector (when the pipeline embedded
it) and, in the metadata, the node's own metadata flattened next to LlamaIndex's
standard keys (``_node_content``, ``_node_type``, ``ref_doc_id``, ``doc_id``,
``document_id``; see ``llama_index.core.vector_stores.utils.node_to_metadata_dict``). So
the node round-trips exactly (id, text, metadata, relationships), filters work on the
metadata keys, and memories written by the core API or other frameworks still read back
as plain ``TextNode``s.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from agentmem_plugins import InvalidInputError, MemoryItem

__all__ = ["item_to_node", "node_to_input"]


def node_to_input(
    node: BaseNode, scope: dict[str, str], *, need_vector: bool, flat_metadata: bool = False
) -> dict[str, Any]:
    """The ``add_many`` item for ``node`` (an idempotent upsert keyed by its id)."""
    text = node.get_content(metadata_mode=MetadataMode.NONE)
    if not text or not text.strip():
        raise InvalidInputError(
            f"node {node.node_id!r} has no text; the agentmem store keeps text with every "
            "vector (stores_text=True): drop empty nodes before indexing"
        )
    item: dict[str, Any] = {
        "id": node.node_id,
        "text": text,
        "metadata": node_to_metadata_dict(node, remove_text=True, flat_metadata=flat_metadata),
        **scope,
    }
    if node.embedding is not None:
        item["vector"] = list(node.embedding)
    elif need_vector:
        raise InvalidInputError(
            f"node {node.node_id!r} has no embedding and this store has no embedder: embed "
            "nodes first (VectorStoreIndex does), or open the store with embedder="
        )
    return item


def item_to_node(item: MemoryItem) -> BaseNode:
    """The node a memory holds (a plain ``TextNode`` if it was not written by LlamaIndex)."""
    if "_node_content" in item.metadata:
        node = metadata_dict_to_node(item.metadata, text=item.text)
        node.id_ = item.id
        return node
    return TextNode(id_=item.id, text=item.text, metadata=dict(item.metadata))

"""Which store a vector index belongs to.

The records hold a store id (``store_meta``, made by the store's first opener) and the
vector side carries the same id, stamped when its table is made: LanceDB in the table's
schema metadata, pgvector in the table's layout comment. An index made by another store
is refused at open. Without this, a new records database pointed at a ``vector_uri`` that
already holds another store's vectors opens silently, and searches return memories the
records do not know (``check()`` shows them as extra rows). Tables made before stores
had ids carry none and are accepted.
"""

from __future__ import annotations

from .._errors import ConfigError

__all__ = ["OWNER_KEY", "check_owner"]

#: the schema metadata key of a LanceDB table that holds the owner's store id
OWNER_KEY = "agentmem_store"


def check_owner(owner: str | None, store_id: str, where: str) -> None:
    if owner is not None and owner != store_id:
        raise ConfigError(
            f"{where} holds the vectors of another store (store id {owner}; this store's "
            f"records say {store_id}). Point vector_uri at this store's vectors, or at a new "
            "(empty) place; or point sql_url/path at the records of that store"
        )

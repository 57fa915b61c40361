"""``PgVectorIndex``: vectors (pgvector) and full text (tsvector) in PostgreSQL.

One table, ``memory_vectors``: id, rev, the scope columns (B-tree indexed), the text, the
embedding as ``vector(dim)`` (or ``halfvec(dim)``, half the index memory) and a generated
``tsvector`` column with a GIN index. When the records live in the same database (``vector_uri
== sql_url``) the Stores layer hands :meth:`apply_in` to ``RecordStore.apply``, so records,
vectors, full text and history of a batch commit in one transaction: there is nothing to
reconcile after a crash. Otherwise it is a second store like LanceDB, repaired from SQL.

The HNSW cosine index is built, like LanceDB's ANN index, once the table holds
``ann_min_rows`` rows (``CREATE INDEX CONCURRENTLY``: writers are not blocked); below that,
and for small scopes anyway (see ``_search.py``), search is exact. Queries run with
``hnsw.ef_search`` and ``hnsw.iterative_scan = relaxed_order`` (pgvector >= 0.8), so a
scoped search keeps scanning the graph until ``k`` rows of the scope are found instead of
returning the few that happened to be among the first ``ef_search`` candidates.

Vectors travel in pgvector's binary format (``_pgvector_wire``): no text formatting of
floats, and no extra dependency. Searches are in ``_pgvector_search``.
Blocking by design (called from worker threads), like ``VectorIndex``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .._config import is_postgres_url
from .._errors import ConfigError, EmbedderMismatchError
from ._changes import Changes
from ._owner import check_owner
from ._pgvector_search import SCOPE_COLUMNS, PgVectorSearch
from ._pgvector_wire import TABLE, VectorType, _encode, _register
from ._schema import connection_error

__all__ = ["PgVectorIndex", "is_postgres_url"]

log = logging.getLogger("agentmem_plugins")
LAYOUT = 1  # the table's own layout version, kept in its COMMENT with dim, type, language
HNSW_INDEX = "ix_memory_vectors_hnsw"
MAX_DIM = {"vector": 2000, "halfvec": 4000}  # pgvector's HNSW limits
_DDL_LOCK = 0x61676D56  # advisory lock key ("agmV") for creating the table and its index
_EXTENSION_LOCK = 0x61676D45  # ("agmE") for enabling pgvector in a new database
_DUPLICATE_TABLE = "42P07"  # PostgreSQL's SQLSTATE for "relation already exists"
_LANGUAGE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PgVectorIndex(PgVectorSearch):
    """The vector side in PostgreSQL with pgvector. See the module docstring; its reads
    are :class:`~._pgvector_search.PgVectorSearch`'s."""

    def __init__(
        self,
        url: str,
        *,
        ann_min_rows: int,
        ann_ef: int,
        vector_type: VectorType = "vector",
        language: str = "english",
        records_here: bool = False,
    ) -> None:
        self.url = url
        # the records' table is in this database (``vector_uri == sql_url``): a search
        # reads its candidates' records in the same query (:meth:`search_vector`)
        self._records_here = records_here
        self._ann_min_rows = ann_min_rows
        self._ef = max(1, min(ann_ef, 1000))  # hnsw.ef_search accepts 1..1000
        self._type: VectorType = vector_type
        self._lang = language
        self._lock = threading.Lock()
        self._dim: int | None = None
        self._owner: str | None = None  # the store id in the table's layout comment
        self._store_id: str | None = None  # this store's, stamped on a table made here
        self._oid: int | None = None
        self._has_ann = False
        self._engine = sa.create_engine(url, pool_pre_ping=True)
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.OperationalError as exc:
            self._engine.dispose()
            raise connection_error(exc, url) from None
        try:
            with conn:
                self._ensure_extension(conn)
                self._check_language(conn)
                self._read_layout(conn)
        except BaseException:
            self._engine.dispose()
            raise

    # --- opening -----------------------------------------------------------------------

    def _where(self) -> str:
        u = sa.engine.make_url(self.url)
        return f"database {u.database!r} on {u.host or u.query.get('host') or 'localhost'}"

    def _ensure_extension(self, conn: Connection) -> None:
        version = conn.exec_driver_sql(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).scalar()
        if version is None:
            available = conn.exec_driver_sql(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            ).scalar()
            if available is None:
                raise ConfigError(
                    f"the PostgreSQL server of {self._where()} has no pgvector extension. "
                    "Install pgvector >= 0.8 on the server (Debian/Ubuntu: apt install "
                    "postgresql-<major>-pgvector from apt.postgresql.org; or the "
                    "pgvector/pgvector Docker image), then reopen"
                )
            try:
                # processes opening a new database at once: one creates it, the others
                # then find it (unserialised, the others failed on pg_extension's unique
                # name, and were told they may not enable it)
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({_EXTENSION_LOCK})")
                try:
                    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_EXTENSION_LOCK})")
            except sa.exc.DBAPIError as exc:
                user = conn.exec_driver_sql("SELECT current_user").scalar()
                raise ConfigError(
                    f"the pgvector extension is installed on the server but not enabled in "
                    f"{self._where()}, and role {user!r} may not enable it "
                    f"({str(exc.orig).strip().splitlines()[0]}). Have the database owner or a "
                    "superuser run once: CREATE EXTENSION vector;"
                ) from None
            version = conn.exec_driver_sql(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).scalar()
        major, minor = (int(x) for x in str(version).split(".")[:2])
        if (major, minor) < (0, 8):
            raise ConfigError(
                f"pgvector {version} in {self._where()} is too old (iterative index scans "
                "need >= 0.8). Install 0.8 on the server, then run: ALTER EXTENSION vector UPDATE;"
            )

    def _check_language(self, conn: Connection) -> None:
        known = conn.exec_driver_sql(
            "SELECT 1 FROM pg_ts_config WHERE cfgname = %(n)s", {"n": self._lang}
        ).scalar()
        if not _LANGUAGE.match(self._lang) or known is None:
            names = conn.exec_driver_sql("SELECT cfgname FROM pg_ts_config ORDER BY 1").scalars()
            raise ConfigError(
                f"pg_fulltext_language={self._lang!r} is not a text search configuration of "
                f"this server; use one of: {', '.join(names)}"
            )

    def _read_layout(self, conn: Connection) -> None:
        exists = conn.exec_driver_sql("SELECT to_regclass(%(t)s)", {"t": TABLE}).scalar()
        if exists is None:
            return
        comment = conn.exec_driver_sql(
            "SELECT obj_description(to_regclass(%(t)s), 'pg_class')", {"t": TABLE}
        ).scalar()
        try:
            layout = json.loads(comment or "")
            dim, kind, lang = int(layout["dim"]), layout["type"], layout["language"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"table {TABLE} in {self._where()} was not made by agentmem-plugins (no layout "
                f"comment). Rename or drop it (DROP TABLE {TABLE};): the vectors are rebuilt "
                "from the records on the next open"
            ) from None
        if (kind, lang) != (self._type, self._lang):
            raise ConfigError(
                f"table {TABLE} in {self._where()} holds {kind} vectors with full text in "
                f"{lang!r}; this store was opened with pg_vector_type={self._type!r}, "
                f"pg_fulltext_language={self._lang!r}. Open it with pg_vector_type={kind!r}, "
                f"pg_fulltext_language={lang!r}, or rebuild: run DROP TABLE {TABLE}; and reopen "
                "(the vectors are rebuilt from the records)"
            )
        self._dim = dim
        self._owner = layout.get("store")
        self._has_ann = self._valid_ann(conn)

    def _valid_ann(self, conn: Connection) -> bool:
        valid = conn.exec_driver_sql(
            "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%(i)s)",
            {"i": HNSW_INDEX},
        ).scalar()
        return bool(valid)

    def bind(self, store_id: str) -> None:
        """This index serves the store ``store_id``: a table made by another store is
        refused (:func:`~._backend.check_owner`); one made from now on is stamped."""
        self._store_id = store_id
        check_owner(self._owner, store_id, f"table {TABLE} in {self._where()}")

    @property
    def dim(self) -> int | None:
        return self._dim

    def _ensure(self, dim: int) -> None:
        """Create the table for ``dim`` (once, in its own committed transaction)."""
        if self._dim is not None:
            return self._check_dim(dim)
        if dim > MAX_DIM[self._type]:
            hint = " or pg_vector_type='halfvec'" if self._type == "vector" else ""
            raise ConfigError(
                f"pgvector's HNSW index takes at most {MAX_DIM[self._type]} dimensions for "
                f"{self._type}; the embedder has {dim}. Use a smaller embedder{hint}"
            )
        try:
            self._create(dim)
        except sa.exc.ProgrammingError as exc:
            # Made by another process meanwhile, which the check under the lock did not
            # see: after an advisory lock the server's catalog cache may still hold "no
            # such table" (only a new transaction or a table lock refreshes it). Measured
            # with four processes opening a new store at once.
            if getattr(exc.orig, "sqlstate", None) != _DUPLICATE_TABLE:
                raise
            with self._lock, self._engine.connect() as conn:  # a new transaction sees it
                self._read_layout(conn)
            if self._dim is None:
                raise
        self._check_dim(dim)

    def _create(self, dim: int) -> None:
        """:meth:`_ensure`'s table, its indexes and its layout comment, in one transaction
        under the DDL lock (unless another process made it before)."""
        with self._lock, self._engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_DDL_LOCK})")
            self._read_layout(conn)  # another process may have made it meanwhile
            if self._dim is not None:
                return
            lang = self._lang  # checked against pg_ts_config and a plain charset
            conn.exec_driver_sql(
                f"CREATE TABLE {TABLE} ("
                "id text PRIMARY KEY, rev text NOT NULL, user_id text, agent_id text, "
                f"run_id text, text text NOT NULL, embedding {self._type}({dim}) NOT NULL, "
                f"tsv tsvector GENERATED ALWAYS AS (to_tsvector('{lang}'::regconfig, text)) "
                "STORED)"
            )
            for column in SCOPE_COLUMNS:
                conn.exec_driver_sql(f"CREATE INDEX ix_{TABLE}_{column} ON {TABLE} ({column})")
            conn.exec_driver_sql(f"CREATE INDEX ix_{TABLE}_tsv ON {TABLE} USING gin (tsv)")
            layout = json.dumps(
                {"layout": LAYOUT, "dim": dim, "type": self._type, "language": lang}
                | ({"store": self._store_id} if self._store_id else {})
            )
            conn.exec_driver_sql(f"COMMENT ON TABLE {TABLE} IS '{layout}'")
            self._dim = dim

    def _table(self) -> bool:
        """Whether the vector table exists. Known once this process made or read it;
        until then looked up again (one query), since another process may have made it
        since this one opened an empty store: its reads and deletes must then reach it
        (they found nothing: full-text search missed the other process's memories, and a
        delete left their vector rows behind)."""
        if self._dim is None:
            with self._lock, self._engine.connect() as conn:
                self._read_layout(conn)
        return self._dim is not None

    def _check_dim(self, dim: int) -> None:
        if dim != self._dim:
            raise EmbedderMismatchError(
                f"table {TABLE} in {self._where()} holds {self._dim}-dimensional vectors; "
                f"this write has {dim}. Open it with the embedder it was built with, or use "
                "another database (or schema) for the new embedder"
            )

    def _prepare(self, dbapi_conn: Any) -> None:
        if self._oid is None:
            from psycopg.types import TypeInfo

            info = TypeInfo.fetch(dbapi_conn, self._type)
            if info is None:  # the extension was dropped since we opened
                raise ConfigError(f"type {self._type} is gone from {self._where()}")
            self._oid = info.oid
        _register(dbapi_conn, self._oid)

    # --- writes ------------------------------------------------------------------------

    def apply_in(self, conn: Connection, changes: Changes) -> None:
        """Write ``changes`` on ``conn``, inside the caller's transaction."""
        vectors = changes.vectors
        if changes.rows and vectors is None:
            vectors = np.stack([np.frombuffer(r["vector"], dtype=np.float32) for r in changes.rows])
        if vectors is not None and changes.rows:
            self._ensure(vectors.shape[1])
        elif not self._table():
            return  # no table yet: nothing to delete
        doomed = list(changes.replace_ids) + list(changes.delete_ids)
        dbapi: Any = conn.connection.dbapi_connection  # psycopg.Connection
        if vectors is not None and changes.rows:
            self._prepare(dbapi)  # before the cursor: it copies the connection's adapters
        with dbapi.cursor() as cur:
            if doomed:
                cur.execute(f"DELETE FROM {TABLE} WHERE id = ANY(%s)", (doomed,))
            if vectors is not None and changes.rows:
                # binary COPY: 10k rows in 0.8 s against 1.9-2.6 s for executemany
                embeddings = _encode(vectors, self._type)
                with cur.copy(
                    f"COPY {TABLE} (id, rev, user_id, agent_id, run_id, text, embedding) "
                    "FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["text"] * 6 + [self._oid])
                    for r, e in zip(changes.rows, embeddings, strict=True):
                        scope = (r["user_id"], r["agent_id"], r["run_id"])
                        copy.write_row((r["id"], r["rev"], *scope, r["text"], e))

    def apply(self, changes: Changes) -> None:
        with self._engine.begin() as conn:
            self.apply_in(conn, changes)

    def add(self, rows: Sequence[dict[str, Any]], vectors: np.ndarray | None) -> None:
        self.apply(Changes(rows=list(rows), vectors=vectors))

    def upsert(self, rows: Sequence[dict[str, Any]], vectors: np.ndarray | None) -> None:
        """Insert or replace rows keyed on id, in one transaction: repeating it changes
        nothing."""
        if rows:
            ids = [r["id"] for r in rows]
            self.apply(Changes(rows=list(rows), vectors=vectors, replace_ids=ids))

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self.apply(Changes(delete_ids=list(ids)))

    def reset_in(self, conn: Connection) -> None:
        """Empty the table inside the caller's transaction (the dimension stays)."""
        if self._table():
            conn.exec_driver_sql(f"DELETE FROM {TABLE}")

    def reset(self) -> None:
        with self._engine.begin() as conn:
            self.reset_in(conn)

    # --- reads -------------------------------------------------------------------------

    def count(self) -> int:
        if not self._table():
            return 0
        with self._engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar_one())

    def revisions(self) -> dict[str, str]:
        return dict(self.id_revs())

    def id_revs(self) -> list[tuple[str, str]]:
        """Every ``(id, rev)`` row (what :meth:`Stores.check` reads)."""
        if not self._table():
            return []
        with self._engine.connect() as conn:
            return [(i, r) for i, r in conn.exec_driver_sql(f"SELECT id, rev FROM {TABLE}")]

    # --- maintenance -------------------------------------------------------------------

    def maintain(self) -> float | None:
        """Build the HNSW index once the table holds ``ann_min_rows`` rows (concurrently:
        writes go on); one process builds it, the others skip while it holds the lock.
        Nothing is ever left for later (``None``): PostgreSQL keeps the index itself."""
        if self._has_ann or not self._table() or self.count() < self._ann_min_rows:
            return None
        ops = f"{self._type}_cosine_ops"
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_DDL_LOCK})").scalar():
                return None
            try:
                if self._valid_ann(conn):
                    self._has_ann = True
                    return None
                # an interrupted concurrent build leaves an invalid index behind
                conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {HNSW_INDEX}")
                conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
                log.info("building the HNSW index of %s", TABLE)
                conn.exec_driver_sql(
                    f"CREATE INDEX CONCURRENTLY {HNSW_INDEX} ON {TABLE} "
                    f"USING hnsw (embedding {ops}) WITH (m = 16, ef_construction = 64)"
                )
                self._has_ann = True
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_DDL_LOCK})")
        return None

    def close(self) -> None:
        self._engine.dispose()

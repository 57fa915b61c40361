"""``MemoryConfig``: one frozen, keyword-only, validated-once configuration."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ._errors import ConfigError

__all__ = ["MemoryConfig", "default_path"]

DEFAULT_EMBEDDER = "fastembed:BAAI/bge-small-en-v1.5"


def default_path() -> Path:
    """``$AGENTMEM_PATH``, else the user's data dir (``$XDG_DATA_HOME/agentmem``)."""
    if env := os.environ.get("AGENTMEM_PATH"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "agentmem"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None


#: ``vector_uri`` schemes LanceDB serves; anything else but a PostgreSQL URL (pgvector) is
#: a ConfigError (never a folder named after the URL, which is what LanceDB makes of an
#: unknown scheme).
VECTOR_URI_SCHEMES = ("file", "s3", "s3+ddb", "gs", "az", "abfss", "memory")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


def is_postgres_url(uri: str) -> bool:
    """A SQLAlchemy PostgreSQL URL (``postgresql://``, ``postgresql+psycopg://``, ...)."""
    scheme = uri.split(":", 1)[0].lower()
    return scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")


def check_vector_uri(uri: str) -> str:
    """A local path, a URL whose scheme LanceDB serves (see ``VECTOR_URI_SCHEMES``), or a
    PostgreSQL URL (vectors in pgvector)."""
    match = _SCHEME.match(uri)
    if match is None or len(match.group(1)) == 1:  # a plain path, or a Windows drive
        return uri
    if is_postgres_url(uri):
        return uri
    scheme = match.group(1).lower()
    if scheme not in VECTOR_URI_SCHEMES:
        accepted = ", ".join(f"{s}://" for s in VECTOR_URI_SCHEMES)
        raise ValueError(
            f"scheme {scheme!r} is not served by LanceDB; use a local path, one of "
            f"{accepted}, or a postgresql+psycopg:// URL (vectors in pgvector)"
        )
    if not uri[match.end() :].startswith("//"):
        raise ValueError(f"{uri!r} is not a URL: write {scheme}://bucket/prefix")
    return uri


class MemoryConfig(BaseModel):
    """Everything a store needs; frozen once built.

    Example::

        cfg = MemoryConfig(path="./mem", embedder="hash")
        with Memory(cfg) as m:
            m.add("I like green tea", user_id="alice")

    ``embedder`` is an :class:`Embedder` instance or a spec string:
    ``"fastembed:<model name or local folder>"``, ``"hash"`` (offline, no weights) or
    ``"none"`` (vectors are always given by the caller; the dimension is learned from
    the first batch). ``sql_url`` is any SQLAlchemy URL (default: SQLite in ``path``);
    ``vector_uri`` a local folder, an ``s3://``, ``gs://`` or ``az://`` URL (default:
    ``$AGENTMEM_VECTOR_URI``, else ``path/lancedb``), with ``storage_options`` (credentials,
    ``aws_endpoint``, ``allow_http``, ``region``, ...) passed to LanceDB as given (the usual
    ``AWS_*`` / ``GOOGLE_*`` / ``AZURE_*`` variables work too); or a PostgreSQL URL
    (``postgresql+psycopg://...``: vectors in pgvector, full text in a tsvector column).
    With ``vector_uri == sql_url`` every batch writes records, vectors, full text and
    history in one transaction.

    Several processes (and machines) may open one store at once. ``read_consistency_s``
    bounds how stale a process's view of the vector side may be: ``0`` (default) checks
    for other processes' commits on every read (one manifest check, a round trip on
    object storage); a few seconds saves that round trip. Each process registers a
    session that it refreshes every ``session_heartbeat_s``; one silent for
    ``session_stale_after_s`` (or whose pid is gone, on the same host) has crashed, and
    its unfinished writes are repaired by the next process that opens or maintains the
    store. Maintenance runs in one process at a time, under a lease of
    ``maintenance_lease_s``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    path: Path = Field(default_factory=default_path)
    embedder: Any = Field(default_factory=lambda: _env("AGENTMEM_EMBEDDER") or DEFAULT_EMBEDDER)
    sql_url: str | None = None
    vector_uri: str | None = Field(
        default_factory=lambda: _env("AGENTMEM_VECTOR_URI"), validate_default=True
    )
    storage_options: dict[str, str] | None = None

    # write path
    batch_max_size: int = Field(1024, ge=1, le=100_000)
    batch_max_wait_ms: float = Field(2.0, ge=0, le=10_000)
    max_text_chars: int = Field(32_000, ge=1)
    sqlite_synchronous: str = "NORMAL"
    # gc.freeze() once per process when the first store opens: full garbage collections
    # then skip the ~170k objects of the imports, and stop stalling writes (see _gc.py)
    gc_freeze: bool = True
    # threads for the blocking store calls (SQL, LanceDB); fewer contend less for the GIL
    # and the cores, but calls wait for one: measured on 2 cores, 2 threads speed up 100
    # users' intelligent-mode writes and slow a single add beside a bulk load, 4 were
    # within the noise of 8 on both (BENCHMARKS.md, issue 13, fifth pass)
    io_threads: int = Field(8, ge=1, le=256)
    # maintenance (compaction, index upkeep, expiry sweep) every this many vector commits,
    # and also 5 s after the writes stop (_upkeep_schedule.IDLE_UPKEEP_S)
    compact_every_writes: int = Field(64, ge=1)
    # memories expire this long after they are written (seconds or a timedelta), unless
    # add() says otherwise; None: never
    default_ttl: Any = None

    # several processes, several machines
    read_consistency_s: float = Field(0.0, ge=0, le=3600)
    session_heartbeat_s: float = Field(10.0, gt=0, le=3600)
    session_stale_after_s: float = Field(60.0, gt=0)
    maintenance_lease_s: float = Field(600.0, gt=0)

    # read path
    ann_min_rows: int = Field(50_000, ge=256)
    ann_ef: int = Field(64, ge=1)  # LanceDB's HNSW ef; pgvector's hnsw.ef_search (<= 1000)
    # vectors in PostgreSQL (vector_uri a postgresql+psycopg:// URL): the column type
    # ("halfvec" halves the HNSW index's memory) and the full-text search configuration
    pg_vector_type: Literal["vector", "halfvec"] = "vector"
    pg_fulltext_language: str = "english"
    search_overfetch: int = Field(4, ge=1)
    # a scope (with its filters) of at most this many rows is scored exactly from SQL
    exact_search_max_rows: int = Field(4096, ge=0)
    # those scopes' vectors are kept in memory between searches (until any write), up to
    # this many MiB in all; 0 turns the cache off
    scope_cache_mb: int = Field(256, ge=0)
    # full-text tokenizer, applied when the index is built (measured: BENCHMARKS.md,
    # retrieval quality)
    fulltext_stem: bool = True
    fulltext_stop_words: bool = True
    fulltext_ascii_folding: bool = True
    # hybrid search: how the vector and full-text rankings are fused (see _fusion.py)
    hybrid_fusion: Literal["rrf", "score"] = "rrf"
    hybrid_rrf_k: int = Field(60, ge=1)
    hybrid_vector_weight: float = Field(1.0, ge=0)
    # reranking: a cross-encoder re-scores the top candidates ("fastembed:<model or
    # folder>" or a Reranker); rerank=True makes it the default of every search
    reranker: Any = None
    rerank: bool = False
    rerank_candidates: int = Field(20, ge=1, le=1000)

    # intelligent mode
    llm: Any = None
    llm_base_url: str | None = Field(default_factory=lambda: _env("AGENTMEM_LLM_BASE_URL"))
    llm_model: str | None = Field(default_factory=lambda: _env("AGENTMEM_LLM_MODEL"))
    llm_api_key: str | None = Field(default_factory=lambda: _env("AGENTMEM_LLM_API_KEY"))
    llm_timeout_s: float = Field(60.0, gt=0)
    llm_max_concurrency: int = Field(64, ge=1)
    llm_max_retries: int = Field(5, ge=0)
    llm_retry_max_wait_s: float = Field(20.0, gt=0)
    llm_max_reasks: int = Field(2, ge=0)
    # the HTTP client of the built-in OpenAI-compatible model: "aiohttp" spends a quarter
    # of httpx's CPU per request (issue 13: +22% turns/s with each add waiting)
    llm_http_client: Literal["httpx", "aiohttp"] = "aiohttp"
    # a request still running past this percentile of recent latencies gets a second copy,
    # first answer wins (bounds the tail of hung requests); None: no hedging. On by
    # default since issue 13 measured it: +22-43% turns/s under faults (BENCHMARKS.md)
    llm_hedge_percentile: float | None = Field(95.0, gt=0, lt=100)
    # hedged copies may go out beside llm_max_concurrency requests, up to this many more
    # (None: an eighth of llm_max_concurrency, at least 1; 0: a copy only into a free
    # slot). Without room of their own, copies cannot go out when every slot is busy,
    # which is when a hung request costs most (issue 13, BENCHMARKS.md)
    llm_hedge_room: int | None = Field(None, ge=0)
    extraction_instructions: str | None = None
    neighbours_per_fact: int = Field(5, ge=1, le=50)
    context_messages: int = Field(6, ge=0)
    # messages handed over with wait=False are taken for extraction once no new one has
    # joined their scope's queue for this long (at most 0.5 s after the first): a burst
    # becomes one LLM call, not the first message alone and then the rest (issue 13:
    # 839 -> 1,117 turns/s handed over, median of 9 runs; half the LLM calls). 0: at once
    infer_handover_quiet_ms: float = Field(25.0, ge=0, le=500)

    @field_validator("path", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if isinstance(v, (str, os.PathLike)) else v

    @field_validator("vector_uri")
    @classmethod
    def _vector_uri(cls, v: str | None) -> str | None:
        return None if v is None else check_vector_uri(v)

    @field_validator("session_stale_after_s")
    @classmethod
    def _stale_after(cls, v: float, info: Any) -> float:
        beat = info.data.get("session_heartbeat_s")
        if beat is not None and v < 2 * beat:
            raise ValueError(
                f"must be at least twice session_heartbeat_s ({beat}), or live processes "
                "would be taken for crashed ones"
            )
        return v

    @field_validator("sqlite_synchronous")
    @classmethod
    def _sync_mode(cls, v: str) -> str:
        if v.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA")
        return v.upper()

    @field_validator("default_ttl")
    @classmethod
    def _default_ttl(cls, v: Any) -> Any:
        if v is not None:
            from ._expiry import check_ttl

            try:
                check_ttl(v, field="default_ttl")
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _pg_options_need_pg(self) -> MemoryConfig:
        on_pg = is_postgres_url(self.vector_uri or "")
        custom = self.pg_vector_type != "vector" or self.pg_fulltext_language != "english"
        if custom and not on_pg:
            raise ValueError(
                "pg_vector_type and pg_fulltext_language apply to vectors in PostgreSQL; set "
                "vector_uri to a postgresql+psycopg:// URL (e.g. the same as sql_url)"
            )
        return self

    @property
    def resolved_sql_url(self) -> str:
        return self.sql_url or f"sqlite:///{self.path / 'memories.db'}"

    @property
    def resolved_vector_uri(self) -> str:
        return self.vector_uri or str(self.path / "lancedb")

    @property
    def fulltext_options(self) -> dict[str, Any]:
        """The ``lancedb.index.FTS`` options of the full-text index."""
        return {
            "stem": self.fulltext_stem,
            "remove_stop_words": self.fulltext_stop_words,
            "ascii_folding": self.fulltext_ascii_folding,
        }

    @property
    def uses_local_path(self) -> bool:
        return self.sql_url is None or self.vector_uri is None

    @classmethod
    def build(cls, config: MemoryConfig | None = None, **overrides: Any) -> MemoryConfig:
        """``config`` with ``overrides`` applied; config errors become :class:`ConfigError`."""
        try:
            if config is None:
                return cls(**overrides)
            if overrides:
                return cls(**{**config.model_dump(exclude_unset=True), **overrides})
            return config
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid MemoryConfig: {details}") from None

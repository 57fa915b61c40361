"""Loading a fastembed model by name from its cache or the HuggingFace Hub, shared by the
embedder (:mod:`._fastembed`) and the cross-encoder reranker (:mod:`..rerankers._fastembed`).

The order: a name fastembed does not list is an error at once; then the local cache,
without network; then a download, only when allowed (not ``local_files_only``, no
``HF_HUB_OFFLINE``, and, when the caller left it open, the Hub answering within a
second), so a machine without network fails fast with a message that says what to do.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlparse

from .._errors import EmbedderError

__all__ = ["load_from_hub"]

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}
_HUB_PROBE_TIMEOUT_S = 1.0


def load_from_hub(
    load: Callable[..., T],
    model_name: str,
    *,
    known: Iterable[str],
    local_files_only: bool | None,
    what: str,
    unknown_hint: str,
    offline_hint: str,
) -> T:
    """``load(model_name, local_files_only=...)`` from the cache, else from the Hub.

    ``what`` names the model in messages ("embedding model", "reranker");
    ``unknown_hint`` says where valid names come from; ``offline_hint`` what to do
    instead of a download. Every failure is an :class:`EmbedderError`.
    """
    if model_name.lower() not in {k.lower() for k in known}:
        raise EmbedderError(f"fastembed does not know the {what} {model_name!r}. {unknown_hint}")
    try:  # 1. the local cache: fast, no network
        with _quiet_fastembed():
            return load(model_name, local_files_only=True)
    except Exception as exc:
        cache_error: Exception = exc
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE
    if local_files_only or offline or (local_files_only is None and not _hub_reachable()):
        why = (
            "local_files_only=True"
            if local_files_only
            else "HF_HUB_OFFLINE is set"
            if offline
            else "the HuggingFace Hub is not reachable"
        )
        raise EmbedderError(
            f"The {what} {model_name!r} is not in the fastembed cache and {why}. Download it "
            f"once with network access, or {offline_hint} Cause: {cache_error}"
        ) from cache_error
    try:  # 2. a download
        return load(model_name, local_files_only=False)
    except EmbedderError:
        raise
    except Exception as exc:
        raise EmbedderError(
            f"Could not download or load the {what} {model_name!r}: {exc}. {offline_hint}"
        ) from exc


def _hub_reachable() -> bool:
    """Can a TCP connection to the Hub be opened within about a second?

    Runs in a daemon thread because name resolution ignores socket timeouts and can
    hang for many seconds on a machine without network.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # a proxy may reach what we cannot: let the download try
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=_HUB_PROBE_TIMEOUT_S):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, name="agentmem-hub-probe", daemon=True)
    thread.start()
    thread.join(_HUB_PROBE_TIMEOUT_S + 0.25)
    return bool(answer and answer[0])


@contextmanager
def _quiet_fastembed() -> Iterator[None]:
    """Silence fastembed's loguru error lines during the cache probe (a miss is normal)."""
    try:
        from loguru import logger
    except ImportError:  # pragma: no cover - loguru comes with fastembed
        yield
        return
    logger.disable("fastembed")
    try:
        yield
    finally:
        logger.enable("fastembed")

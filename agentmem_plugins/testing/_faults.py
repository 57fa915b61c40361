"""The loopback LLM server's settings (:class:`ServerConfig`) and the faults it injects
into chat requests: which outcome a request draws, the 429/500 answers, malformed
content, and a held connection (see :mod:`agentmem_plugins.testing.llm_server`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from dataclasses import dataclass
from typing import Any

from ._chat_completions import error_body

__all__ = ["Hang", "ServerConfig", "hang", "injected_error", "malform", "pick_outcome"]


@dataclass(frozen=True)
class ServerConfig:
    """Runtime behaviour; change it with :meth:`LLMServer.configure` or ``POST /config``."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0  # uniform extra latency in [0, jitter_ms]
    error_rate: float = 0.0  # split between 429 and 500 by rate_limit_share
    rate_limit_share: float = 0.5  # fraction of injected errors that are 429
    malformed_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_s: float = 30.0  # how long a "timeout" request is held at most
    retry_after_s: float = 1.0  # Retry-After sent with 429
    model: str = "agentmem-rules"

    def __post_init__(self) -> None:
        for name in ("error_rate", "malformed_rate", "timeout_rate", "rate_limit_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.error_rate + self.malformed_rate + self.timeout_rate > 1.0 + 1e-9:
            raise ValueError("error_rate + malformed_rate + timeout_rate must be <= 1")
        for name in ("latency_ms", "jitter_ms", "hang_s", "retry_after_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


class Hang(Exception):
    """Internal: answer nothing and close the connection."""


def pick_outcome(cfg: ServerConfig, draw: float, pick: float) -> str:
    """What a chat request gets, from its two draws in [0, 1): ``rate_limited`` or
    ``server_error`` (``error_rate``, split by ``pick``), ``timeout``, ``malformed``, or
    ``ok``."""
    if draw < cfg.error_rate:
        return "rate_limited" if pick < cfg.rate_limit_share else "server_error"
    draw -= cfg.error_rate
    if draw < cfg.timeout_rate:
        return "timeout"
    draw -= cfg.timeout_rate
    return "malformed" if draw < cfg.malformed_rate else "ok"


def injected_error(outcome: str, cfg: ServerConfig) -> tuple[int, dict[str, str], Any]:
    """The answer of a ``rate_limited`` (429 with ``Retry-After``) or ``server_error`` (500)
    outcome."""
    if outcome == "rate_limited":
        retry = cfg.retry_after_s
        headers = {
            "Retry-After": str(math.ceil(retry)),
            "retry-after-ms": str(int(retry * 1000)),
        }
        return 429, headers, error_body("rate limit reached (injected)", "rate_limit_error")
    return 500, {}, error_body("internal error (injected)", "server_error")


async def hang(reader: asyncio.StreamReader, seconds: float) -> None:
    """Wait ``seconds`` or until the client closes the connection, whichever comes first."""
    eof = asyncio.ensure_future(reader.read(1))
    try:
        await asyncio.wait_for(asyncio.shield(eof), timeout=seconds)
    except (asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        eof.cancel()
        with contextlib.suppress(BaseException):
            await eof


def malform(content: str, pick: float) -> str:
    """``content`` spoilt by ``pick``: truncated JSON, prose, or JSON of the wrong shape."""
    if pick < 1 / 3:
        return content[: max(1, len(content) // 2)]  # truncated JSON
    if pick < 2 / 3:
        return "Sure! Here are the facts you asked for: " + content[:40]
    return json.dumps({"result": "unexpected shape", "items": [1, 2, 3]})

"""``OpenAIChatModel``: any OpenAI-compatible chat-completions endpoint over HTTP.

OpenAI, Ollama (``http://localhost:11434/v1``), vLLM, llama.cpp server, or the loopback
test server. One ``aiohttp.ClientSession`` per instance (the default), or with
``http_client="httpx"`` pooled keep-alive ``httpx.AsyncClient``s (HTTP/1.1): the same
requests and the same classification, aiohttp for a quarter of the client CPU per request
(0.6 vs 2.6 ms measured against the loopback server; it matters where the HTTP client,
not the model, is what a busy process spends its time on). It does not retry: it only classifies
failures so :func:`~agentmem_plugins.llms.call_json` (the one place retries live) knows
what to do::

    timeout / connection error / dropped connection          -> LLMTransientError
    HTTP 429 (Retry-After honoured), 408, 5xx               -> LLMTransientError
    other HTTP 4xx, bad URL                                  -> LLMRequestError
    2xx with a body that is not a chat completion            -> LLMResponseError
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx

from .._errors import ConfigError, LLMRequestError, LLMResponseError, LLMTransientError
from ._hedging import hedge_room_for
from ._protocol import ChatMessage

__all__ = ["OpenAIChatModel", "parse_retry_after"]

_BODY_SNIPPET = 300
_POOL_SIZE = 8  # connections per httpx pool (see OpenAIChatModel.__init__)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or an
    HTTP date); ``None`` when absent or unreadable."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    return text[:_BODY_SNIPPET] + ("..." if len(text) > _BODY_SNIPPET else "")


class OpenAIChatModel:
    """Chat completions from an OpenAI-compatible server.

    ``base_url`` ends before ``/chat/completions`` (e.g. ``https://api.openai.com/v1``).
    ``timeout_s`` bounds connecting, each read and each write; waiting for a free pooled
    connection is not bounded (bound concurrency with ``call_json(limit=...)`` instead).
    ``max_connections`` keep-alive HTTP/1.1 connections at most, in pools of 8.
    ``temperature`` is sent only when given (some reasoning models reject it).
    ``http_client``: ``"aiohttp"`` or ``"httpx"``; by default aiohttp, or httpx when a
    ``transport`` (an httpx transport, e.g. ``httpx.MockTransport``) is given.
    ``prompt_tokens``/``completion_tokens``/``requests`` count what the server reported.

    Example::

        llm = OpenAIChatModel("http://127.0.0.1:8000/v1", "my-model")
        text = await llm.complete([{"role": "user", "content": "Say hi"}])
        await llm.aclose()
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_connections: int = 64,
        temperature: float | None = None,
        extra_body: dict[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: Literal["httpx", "aiohttp"] | None = None,
    ) -> None:
        if not base_url:
            raise ConfigError("base_url is required, e.g. 'https://api.openai.com/v1'")
        if not model:
            raise ConfigError("model is required, e.g. 'gpt-4o-mini'")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.temperature = temperature
        self.extra_body = dict(extra_body or {})
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if max_connections < 1:
            raise ConfigError("max_connections must be at least 1")
        if http_client is None:
            http_client = "aiohttp" if transport is None else "httpx"
        if http_client not in ("httpx", "aiohttp"):
            raise ConfigError(f"http_client must be 'httpx' or 'aiohttp', got {http_client!r}")
        if http_client == "aiohttp" and transport is not None:
            raise ConfigError("transport= is an httpx transport; leave http_client='httpx'")
        self._aiohttp: _AiohttpPost | None = None
        if http_client == "aiohttp":
            self._aiohttp = _AiohttpPost(self.base_url, headers, timeout_s, max_connections)
        # Several small pools rather than one big one: httpcore 1.0's pool re-scans every
        # connection for every queued request (O(connections x requests), encode/httpcore
        # #1035), which collapsed one 200-connection pool to ~20 requests/s here; pools
        # of 8 keep that cost flat. A request goes to the least busy pool.
        shards = 1 if transport is not None else -(-max_connections // _POOL_SIZE)
        shards = 0 if self._aiohttp is not None else shards
        per_shard = -(-max_connections // max(shards, 1))
        self._clients = [
            httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(timeout_s, pool=None),
                limits=httpx.Limits(
                    max_connections=per_shard,
                    max_keepalive_connections=per_shard,
                    keepalive_expiry=30.0,
                ),
                http1=True,
                http2=False,
                transport=transport,
            )
            for _ in range(shards)
        ]
        self._busy = [0] * shards
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> OpenAIChatModel:
        """Built from a :class:`~agentmem_plugins.MemoryConfig`'s ``llm_*`` fields."""
        if not getattr(config, "llm_base_url", None) or not getattr(config, "llm_model", None):
            from .._errors import ConfigError

            raise ConfigError(
                "an LLM needs llm_base_url and llm_model "
                "(or AGENTMEM_LLM_BASE_URL and AGENTMEM_LLM_MODEL in the environment)"
            )
        kwargs: dict[str, Any] = {
            "api_key": config.llm_api_key,
            "timeout_s": config.llm_timeout_s,
            # the calls the store lets out at once, its hedged copies included: a copy
            # that waits for a pooled connection waits for the hung request it hedges
            "max_connections": config.llm_max_concurrency
            + (
                hedge_room_for(config.llm_max_concurrency, getattr(config, "llm_hedge_room", None))
                if getattr(config, "llm_hedge_percentile", None) is not None
                else 0
            ),
            "http_client": getattr(config, "llm_http_client", None),
        }
        kwargs.update(overrides)
        return cls(config.llm_base_url, config.llm_model, **kwargs)

    def __repr__(self) -> str:
        return f"OpenAIChatModel(base_url={self.base_url!r}, model={self.model!r})"

    async def complete(self, messages: Sequence[ChatMessage], *, json_mode: bool = False) -> str:
        body: dict[str, Any] = {"model": self.model, "messages": list(messages)}
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        body.update(self.extra_body)
        if self._aiohttp is not None:
            status, headers, content = await self._aiohttp.post(body)
            self.requests += 1
            return self._read(status, headers, content)
        shard = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[shard] += 1
        try:
            response = await self._clients[shard].post("/chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise LLMTransientError(f"LLM request timed out ({type(exc).__name__})") from exc
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise LLMRequestError(f"LLM request cannot be sent: {exc}") from exc
        except httpx.TransportError as exc:  # connect/read/write errors, dropped connections
            raise LLMTransientError(f"LLM connection failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self._busy[shard] -= 1
        self.requests += 1
        return self._read(response.status_code, response.headers, response.content)

    def _read(self, status: int, headers: Mapping[str, str], body: bytes) -> str:
        if status == 429 or status == 408 or status >= 500:
            raise LLMTransientError(
                f"LLM server answered HTTP {status}: {_snippet(body)}",
                retry_after=parse_retry_after(headers),
            )
        if status >= 400:
            raise LLMRequestError(
                f"LLM server rejected the request, HTTP {status}: {_snippet(body)}"
            )
        if status >= 300:
            raise LLMRequestError(f"LLM server answered HTTP {status} (redirects not followed)")
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LLMResponseError(f"LLM response is not JSON: {_snippet(body)}") from exc
        usage = data.get("usage") if isinstance(data, dict) else None
        if isinstance(usage, dict):
            self.prompt_tokens += _int(usage.get("prompt_tokens"))
            self.completion_tokens += _int(usage.get("completion_tokens"))
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMResponseError(
                f"LLM response has no choices[0].message.content: {_snippet(body)}"
            ) from exc
        if not isinstance(content, str):
            raise LLMResponseError(f"LLM answer content is {type(content).__name__}, not text")
        return content

    async def aclose(self) -> None:
        """Close the connection pools."""
        for client in self._clients:
            await client.aclose()
        if self._aiohttp is not None:
            await self._aiohttp.aclose()

    async def __aenter__(self) -> OpenAIChatModel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


class _AiohttpPost:
    """``POST /chat/completions`` through one ``aiohttp.ClientSession``, opened on first
    use (on the running loop); failures classified as for httpx."""

    def __init__(
        self, base_url: str, headers: dict[str, str], timeout_s: float, max_connections: int
    ) -> None:
        try:
            import aiohttp
        except ImportError as exc:
            raise ImportError(
                "http_client='aiohttp' needs aiohttp (pip install aiohttp), or use 'httpx'"
            ) from exc
        self._aiohttp = aiohttp
        self._url = base_url + "/chat/completions"
        self._headers = headers
        # like httpx's: connecting and each read bounded, waiting for a pooled
        # connection not (call_json's ConcurrencyLimit bounds that)
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._max_connections = max_connections
        self._session: Any = None
        # HTTP(S)_PROXY / NO_PROXY, as httpx honours them, read once as httpx does: with
        # ``trust_env=True`` aiohttp reads them, and ~/.netrc, in a worker thread on every
        # request (two thread hops per call), and a ~/.netrc entry for the LLM's host
        # then clashes with the API key's header
        self._proxy = _env_proxy(self._url)

    async def post(self, body: dict[str, Any]) -> tuple[int, Mapping[str, str], bytes]:
        aiohttp = self._aiohttp
        if self._session is None:  # no await before it is set: one session per client
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._max_connections),
            )
        try:
            async with self._session.post(self._url, json=body, **self._proxy) as response:
                return response.status, response.headers, await response.read()
        except asyncio.TimeoutError as exc:  # aiohttp's timeouts derive from it
            raise LLMTransientError(f"LLM request timed out ({type(exc).__name__})") from exc
        except aiohttp.InvalidURL as exc:
            raise LLMRequestError(f"LLM request cannot be sent: {exc}") from exc
        except aiohttp.ClientError as exc:  # connect/read errors, dropped connections
            raise LLMTransientError(f"LLM connection failed: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _env_proxy(url: str) -> dict[str, Any]:
    """aiohttp's ``proxy`` and ``proxy_auth`` for ``url`` from the environment (none when
    ``NO_PROXY`` covers its host or no proxy is set for its scheme)."""
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    try:
        proxy, auth = get_env_proxy_for_url(URL(url))
    except LookupError:
        return {}
    return {"proxy": proxy, "proxy_auth": auth}

"""A loopback OpenAI-compatible chat-completions server for tests, benchmarks and demos.

It answers the extraction and decision prompts of intelligent mode with the deterministic
rules of :mod:`agentmem_plugins.testing.rules`, after a settable latency, and injects
faults at settable rates. Pure asyncio with a small HTTP/1.1 implementation (keep-alive,
Content-Length or chunked bodies): one coroutine per connection, latency is
``asyncio.sleep``, so hundreds of concurrent slow requests cost no threads. It binds to
loopback addresses only.

Command line::

    python -m agentmem_plugins.testing.llm_server --port 8765 --latency-ms 200 \\
        --error-rate 0.1 --malformed-rate 0.05 --timeout-rate 0.02 --seed 0

In process (sync: its loop runs in a background thread; or ``async with``)::

    with LLMServer(latency_ms=50, error_rate=0.1) as server:
        llm = OpenAIChatModel(server.base_url, "agentmem-rules")
        ...
        print(server.stats()["by_outcome"])

Endpoints (each also under ``/v1``, so ``base_url + "/stats"`` works):
``POST /chat/completions``, ``GET /models``, ``GET /stats``, ``POST /reset-stats``,
``GET|POST /config`` (JSON body: any of the :class:`ServerConfig` fields), ``GET /health``.

Faults, drawn per chat request from one seeded RNG in arrival order:

* ``error_rate``: HTTP 429 (with ``Retry-After`` and ``retry-after-ms``) or 500, split by
  ``rate_limit_share`` (default half and half);
* ``timeout_rate``: no answer; the connection is held for ``hang_s`` seconds or until the
  client closes it, then closed;
* ``malformed_rate``: HTTP 200 whose content is not the JSON asked for (truncated JSON,
  prose, or JSON of the wrong shape).

Tokens are counted as ``ceil(len(text) / 4)`` (about four characters per token, the usual
rule of thumb for English): prompt tokens over all message contents, completion tokens
over the answer. They are reported in each answer's ``usage`` and summed in ``/stats``
for every request that got a completion (``ok`` and ``malformed``).

``/stats`` counts answered requests by task in ``by_task``: ``extract_facts``, ``decide``
and ``other`` always, plus ``extract_and_decide`` (the one-call prompt) once seen, and
``mem0_extract`` / ``mem0_facts`` / ``mem0_update`` once Mem0's prompts were seen
(:func:`agentmem_plugins.testing.mem0_rules.mem0_task`; Mem0 pointed at this server gets
rule-based answers in its own formats).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import dataclasses
import ipaddress
import json
import math
import random
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..infer.prompts import parse_input_block
from . import mem0_rules, rules
from ._http import read_request, response

__all__ = ["LLMServer", "ServerConfig", "count_tokens", "main"]

OUTCOMES = (
    "ok",
    "rate_limited",
    "server_error",
    "timeout",
    "malformed",
    "bad_request",
    "not_found",
)
TASKS = ("extract_facts", "decide", "other")


def count_tokens(text: str) -> int:
    """Our token estimate: ``ceil(len(text) / 4)``."""
    return math.ceil(len(text) / 4)


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


def _check_loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"  # one address: port 0 must not pick two ports (IPv4 + IPv6)
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"the test LLM server binds to loopback addresses only, not {host!r}")


def _empty_stats() -> dict[str, Any]:
    return {
        "requests": 0,  # every HTTP request
        "chat_requests": 0,
        "by_outcome": dict.fromkeys(OUTCOMES, 0),
        "by_task": dict.fromkeys(TASKS, 0),
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "in_flight": 0,
        "peak_in_flight": 0,
        "connections": 0,
        "started_at": time.time(),
    }


class _Hang(Exception):
    """Internal: answer nothing and close the connection."""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class LLMServer:
    """The loopback server; see the module doc. ``port=0`` picks a free port.

    Example::

        with LLMServer(latency_ms=200) as server:
            print(server.base_url)  # http://127.0.0.1:<port>/v1
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = 0,
        **config: Any,
    ) -> None:
        self.host = _check_loopback(host)
        self.port = port
        self.config = ServerConfig(**config)
        self._rng = random.Random(seed)
        self._stats = _empty_stats()
        self._lock = threading.Lock()
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.Task[Any]] = set()
        self._ids = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- public -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (safe from any thread)."""
        with self._lock:
            snap = copy.deepcopy(self._stats)
        snap["uptime_s"] = round(time.time() - snap.pop("started_at"), 3)
        return snap

    def reset_stats(self) -> None:
        with self._lock:
            in_flight = self._stats["in_flight"]
            self._stats = _empty_stats()
            self._stats["in_flight"] = in_flight

    def configure(self, **changes: Any) -> ServerConfig:
        """Change latency and fault rates at runtime (safe from any thread)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(ServerConfig)}
        if unknown:
            raise ValueError(f"unknown server setting(s): {', '.join(sorted(unknown))}")
        self.config = dataclasses.replace(self.config, **changes)
        return self.config

    async def start(self) -> LLMServer:
        """Start listening on the running loop."""
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, backlog=4096, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        return self

    async def stop(self) -> None:
        """Stop listening and drop open connections (hanging requests included)."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def __aenter__(self) -> LLMServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> LLMServer:
        """Run the server on its own event loop in a daemon thread."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                leftovers = asyncio.all_tasks(loop)
                for task in leftovers:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="agentmem-llm-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    close = __exit__

    # -- HTTP ---------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        with self._lock:
            self._stats["connections"] += 1
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    break
                method, path, headers, body, keep_alive = request
                try:
                    status, extra, payload = await self._route(method, path, body, reader)
                except _Hang:
                    break
                writer.write(response(status, extra, payload, keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._conns.discard(task)

    async def _route(
        self, method: str, path: str, body: bytes, reader: asyncio.StreamReader
    ) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self._stats["requests"] += 1
        if path.startswith("/v1/"):  # every route answers with and without the /v1 prefix
            path = path[3:]
        if path == "/chat/completions" and method == "POST":
            return await self._chat(body, reader)
        if path == "/models" and method == "GET":
            data = [{"id": self.config.model, "object": "model", "owned_by": "agentmem"}]
            return 200, {}, {"object": "list", "data": data}
        if path == "/stats" and method == "GET":
            return 200, {}, self.stats()
        if path == "/reset-stats" and method == "POST":
            self.reset_stats()
            return 200, {}, {"status": "ok"}
        if path == "/config" and method in ("GET", "POST"):
            if method == "POST":
                try:
                    changes = json.loads(body or b"{}")
                    if not isinstance(changes, dict):
                        raise ValueError("the body must be a JSON object")
                    self.configure(**changes)
                except (ValueError, TypeError) as exc:
                    return 400, {}, _error(str(exc), "invalid_request_error")
            return 200, {}, dataclasses.asdict(self.config)
        if path == "/health" and method == "GET":
            return 200, {}, {"status": "ok"}
        self._count("not_found")
        return 404, {}, _error(f"no route for {method} {path}", "not_found")

    def _count(
        self, outcome: str, task: str | None = None, tokens: tuple[int, int] = (0, 0)
    ) -> None:
        with self._lock:
            s = self._stats
            s["by_outcome"][outcome] += 1
            if task is not None:
                s["by_task"][task] = s["by_task"].get(task, 0) + 1
            s["prompt_tokens"] += tokens[0]
            s["completion_tokens"] += tokens[1]

    async def _chat(
        self, body: bytes, reader: asyncio.StreamReader
    ) -> tuple[int, dict[str, str], Any]:
        cfg = self.config
        try:
            request = json.loads(body)
            raw_messages = request["messages"]
            messages = [
                {"role": str(m.get("role", "user")), "content": _text_of(m.get("content"))}
                for m in raw_messages
            ]
            if not messages or request.get("stream"):
                raise ValueError("messages must be a non-empty list; streaming is not supported")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._count("bad_request")
            return 400, {}, _error(f"invalid request: {exc}", "invalid_request_error")
        response_format = request.get("response_format") or {}
        json_mode = response_format.get("type") in ("json_object", "json_schema")
        with self._lock:
            self._stats["chat_requests"] += 1
            self._stats["in_flight"] += 1
            self._stats["peak_in_flight"] = max(
                self._stats["peak_in_flight"], self._stats["in_flight"]
            )
            draw = self._rng.random()
            pick = self._rng.random()
            jitter = self._rng.random() * cfg.jitter_ms
        try:
            delay = (cfg.latency_ms + jitter) / 1000.0
            if delay > 0:
                await asyncio.sleep(delay)
            if draw < cfg.error_rate:
                if pick < cfg.rate_limit_share:
                    self._count("rate_limited")
                    retry = cfg.retry_after_s
                    headers = {
                        "Retry-After": str(math.ceil(retry)),
                        "retry-after-ms": str(int(retry * 1000)),
                    }
                    return 429, headers, _error("rate limit reached (injected)", "rate_limit_error")
                self._count("server_error")
                return 500, {}, _error("internal error (injected)", "server_error")
            draw -= cfg.error_rate
            if draw < cfg.timeout_rate:
                self._count("timeout")
                await _hang(reader, cfg.hang_s)
                raise _Hang
            draw -= cfg.timeout_rate
            payload = parse_input_block(messages)  # type: ignore[arg-type]
            task = payload.get("task") if payload else None
            if task not in (*TASKS, "extract_and_decide"):
                task = mem0_rules.mem0_task(messages) or "other"  # type: ignore[arg-type]
            content = rules.answer(messages, json_mode=json_mode)  # type: ignore[arg-type]
            outcome = "ok"
            if draw < cfg.malformed_rate:
                outcome = "malformed"
                content = _malform(content, pick)
            prompt_tokens = sum(count_tokens(m["content"]) for m in messages)
            completion_tokens = count_tokens(content)
            self._count(outcome, task, (prompt_tokens, completion_tokens))
            with self._lock:
                self._ids += 1
                ident = self._ids
            return (
                200,
                {},
                {
                    "id": f"chatcmpl-{ident}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model") or cfg.model,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": content},
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                },
            )
        finally:
            with self._lock:
                self._stats["in_flight"] -= 1


async def _hang(reader: asyncio.StreamReader, seconds: float) -> None:
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


def _malform(content: str, pick: float) -> str:
    if pick < 1 / 3:
        return content[: max(1, len(content) // 2)]  # truncated JSON
    if pick < 2 / 3:
        return "Sure! Here are the facts you asked for: " + content[:40]
    return json.dumps({"result": "unexpected shape", "items": [1, 2, 3]})


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": kind}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agentmem_plugins.testing.llm_server",
        description="Loopback OpenAI-compatible chat server answering agentmem prompts by rules.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0, help="429s and 500s")
    parser.add_argument("--rate-limit-share", type=float, default=0.5, help="429 share of errors")
    parser.add_argument("--malformed-rate", type=float, default=0.0)
    parser.add_argument("--timeout-rate", type=float, default=0.0)
    parser.add_argument("--hang-s", type=float, default=30.0)
    parser.add_argument("--retry-after-s", type=float, default=1.0)
    parser.add_argument("--model", default="agentmem-rules")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        server = LLMServer(
            host=args.host,
            port=args.port,
            seed=args.seed,
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            error_rate=args.error_rate,
            rate_limit_share=args.rate_limit_share,
            malformed_rate=args.malformed_rate,
            timeout_rate=args.timeout_rate,
            hang_s=args.hang_s,
            retry_after_s=args.retry_after_s,
            model=args.model,
        )
    except ValueError as exc:
        parser.error(str(exc))

    async def serve() -> None:
        await server.start()
        print(f"agentmem LLM server listening on {server.base_url}", flush=True)
        try:
            await server.serve_forever()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())

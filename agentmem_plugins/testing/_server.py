"""The loopback LLM server itself (:class:`LLMServer`): start and stop on a running loop or
on its own loop in a daemon thread, route each HTTP request, count what it answered. What
it answers comes from :mod:`._chat_completions`, the faults from :mod:`._faults`; the
user-facing documentation is :mod:`agentmem_plugins.testing.llm_server`'s."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import ipaddress
import json
import random
import threading
import time
from typing import Any

from ._chat_completions import (
    TASKS,
    answer,
    completion_body,
    count_tokens,
    error_body,
    read_messages,
)
from ._faults import Hang, ServerConfig, hang, injected_error, malform, pick_outcome
from ._http import read_request, response

__all__ = ["LLMServer"]

OUTCOMES = (
    "ok",
    "rate_limited",
    "server_error",
    "timeout",
    "malformed",
    "bad_request",
    "not_found",
)


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


class LLMServer:
    """The loopback server; see :mod:`agentmem_plugins.testing.llm_server`. ``port=0``
    picks a free port.

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
                except Hang:
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
                    return 400, {}, error_body(str(exc), "invalid_request_error")
            return 200, {}, dataclasses.asdict(self.config)
        if path == "/health" and method == "GET":
            return 200, {}, {"status": "ok"}
        self._count("not_found")
        return 404, {}, error_body(f"no route for {method} {path}", "not_found")

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
            request, messages = read_messages(body)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._count("bad_request")
            return 400, {}, error_body(f"invalid request: {exc}", "invalid_request_error")
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
            outcome = pick_outcome(cfg, draw, pick)
            if outcome in ("rate_limited", "server_error"):
                self._count(outcome)
                return injected_error(outcome, cfg)
            if outcome == "timeout":
                self._count("timeout")
                await hang(reader, cfg.hang_s)
                raise Hang
            task, content = answer(messages, json_mode=json_mode)
            if outcome == "malformed":
                content = malform(content, pick)
            prompt_tokens = sum(count_tokens(m["content"]) for m in messages)
            completion_tokens = count_tokens(content)
            self._count(outcome, task, (prompt_tokens, completion_tokens))
            with self._lock:
                self._ids += 1
                ident = self._ids
            model = request.get("model") or cfg.model
            return 200, {}, completion_body(ident, model, content, prompt_tokens, completion_tokens)
        finally:
            with self._lock:
                self._stats["in_flight"] -= 1

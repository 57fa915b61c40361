"""Mem0 2.x (``mem0ai``) over the intelligent-mode benchmark workload.

Run by :mod:`benchmarks.infer_bench` with the interpreter that has ``mem0ai`` (default
``.bench/venv/bin/python``); prints one JSON object per repetition, one per line.

Configuration: ``infer=True``; LLM = Mem0's ``openai`` provider with ``openai_base_url``
pointing at the loopback server (which answers Mem0's own prompts by the same rules as
ours, :func:`agentmem_plugins.testing.mem0_rules.mem0_task`); embedder = Mem0's ``langchain``
provider wrapping :class:`agentmem_plugins.embeddings.HashEmbedder` (the same offline
embedder our store uses); vector store = Mem0's default, local Qdrant, in a fresh temp
dir per repetition, as is the history SQLite database. Telemetry off
(``MEM0_TELEMETRY=False``, which also skips the notice-config fetch), ``MEM0_DIR`` in
the temp dir, and a socket guard refuses any connection not to 127.0.0.1 or ``::1``.

Concurrency: ``Memory.add`` is synchronous; ``--mode sync`` (default) runs each user on
its own worker of a thread pool (``--workers``, 100 = one per user), sending its
messages one ``add`` after the other (Mem0 has no per-user serialisation, so two adds of
one user in parallel could race). ``--mode async`` uses ``AsyncMemory`` (its 2.x
pipeline wraps the same blocking calls in ``asyncio.to_thread``) with the loop's default
executor enlarged to ``--workers`` threads, one task per user.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _guard_sockets() -> None:
    """Refuse every connection that is not to a loopback address (or a Unix socket)."""
    original = socket.socket.connect

    def connect(self: socket.SocketType, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                ok = ipaddress.ip_address(host).is_loopback
            except ValueError:
                ok = host == "localhost"
            if not ok:
                raise ConnectionRefusedError(f"benchmark socket guard: {host} is not loopback")
        return original(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]


def _serialise(store: Any) -> None:
    """One lock around every public method of Mem0's vector store object.

    Local-mode Qdrant (``qdrant_client.local``) is not thread-safe: with concurrent adds a
    search raced an insert (``IndexError`` in ``local/payload_filters.py``) and the add
    was lost. The lock is what a user running Mem0 from many threads needs; the LLM call
    is not under it.
    """
    import threading

    lock = threading.RLock()
    for name in dir(store):
        if name.startswith("_"):
            continue
        fn = getattr(store, name)
        if not callable(fn):
            continue

        def locked(*a: Any, __fn: Any = fn, **kw: Any) -> Any:
            with lock:
                return __fn(*a, **kw)

        setattr(store, name, locked)


def _describe(exc: BaseException) -> str:
    """``Type: message (where)``, with the innermost frame of the traceback."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = (
        f" at {frames[-1].filename.split('site-packages/')[-1]}:{frames[-1].lineno}"
        if frames
        else ""
    )
    return f"{type(exc).__name__}: {exc}{where}"


def _server(base_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(
        base_url + path,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _stored(found: dict[str, Any]) -> list[str]:
    return [m["memory"] for m in found["results"]]


def _run_sync(
    args: argparse.Namespace, config: dict[str, Any], scripts: list[Any]
) -> tuple[float, float, dict[str, list[str]], list[str]]:
    from mem0 import Memory

    errors: list[str] = []
    memory = Memory.from_config(config)
    if args.qdrant_lock:
        _serialise(memory.vector_store)
    memory.add("warm-up", user_id="bench-warmup", infer=False)
    _server(args.base_url, "/reset-stats", {})

    def user(script: Any) -> None:
        for text in script.messages:
            try:
                memory.add(text, user_id=script.user_id, infer=True)
            except Exception as exc:  # counted, reported
                errors.append(_describe(exc))

    with ThreadPoolExecutor(args.workers) as pool:
        t0 = time.perf_counter()
        c0 = time.process_time()
        list(pool.map(user, scripts))
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
    stored = {
        s.user_id: _stored(memory.get_all(filters={"user_id": s.user_id}, top_k=1000))
        for s in scripts
    }
    memory.close()
    return elapsed, cpu, stored, errors


def _run_async(
    args: argparse.Namespace, config: dict[str, Any], scripts: list[Any]
) -> tuple[float, float, dict[str, list[str]], list[str]]:
    import asyncio

    from mem0 import AsyncMemory

    errors: list[str] = []

    async def run() -> tuple[float, float, dict[str, list[str]]]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(args.workers))
        memory = AsyncMemory.from_config(config)
        if args.qdrant_lock:
            _serialise(memory.vector_store)
        await memory.add("warm-up", user_id="bench-warmup", infer=False)
        _server(args.base_url, "/reset-stats", {})

        async def user(script: Any) -> None:
            for text in script.messages:
                try:
                    await memory.add(text, user_id=script.user_id, infer=True)
                except Exception as exc:  # counted, reported
                    errors.append(_describe(exc))

        t0 = time.perf_counter()
        c0 = time.process_time()
        await asyncio.gather(*(user(s) for s in scripts))
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        stored = {
            s.user_id: _stored(await memory.get_all(filters={"user_id": s.user_id}, top_k=1000))
            for s in scripts
        }
        memory.close()
        return elapsed, cpu, stored

    elapsed, cpu, stored = asyncio.run(run())
    return elapsed, cpu, stored, errors


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--users", type=int, default=100)
    p.add_argument("--messages", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", type=int, default=100)
    p.add_argument("--mode", choices=("sync", "async"), default="sync")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default=None)
    p.add_argument(
        "--no-qdrant-lock",
        dest="qdrant_lock",
        action="store_false",
        help="let threads call local Qdrant concurrently (it is not thread-safe)",
    )
    args = p.parse_args(argv)

    if not args.base_url.startswith(("http://127.0.0.1:", "http://[::1]:")):
        p.error("the LLM server must be on a loopback address")
    base = tempfile.mkdtemp(prefix="mem0-infer-bench-", dir=args.workdir)
    os.environ.update(
        {
            "MEM0_TELEMETRY": "False",
            "MEM0_DIR": base,
            "HF_HUB_OFFLINE": "1",
            "OPENAI_API_KEY": "sk-loopback",
            "ANONYMIZED_TELEMETRY": "False",
        }
    )
    os.environ.pop("OPENROUTER_API_KEY", None)
    os.environ.pop("OPENAI_BASE_URL", None)
    _guard_sockets()

    import logging
    from importlib.metadata import version

    from langchain_core.embeddings import Embeddings

    from agentmem_plugins.embeddings import HashEmbedder
    from agentmem_plugins.testing import rules

    from .infer_workload import expected_state, workload

    logging.getLogger("mem0").setLevel(logging.ERROR)

    class HashEmbeddings(Embeddings):
        """LangChain face of agentmem's offline hash embedder (same vectors as ours)."""

        def __init__(self) -> None:
            self._e = HashEmbedder()

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self._e.embed_documents(list(texts)).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self._e.embed_query(text).tolist()

    embeddings = HashEmbeddings()
    scripts = workload(args.users, args.messages, seed=args.seed)
    expected = {s.user_id: expected_state(s) for s in scripts}
    try:
        for rep in range(args.repeats):
            path = tempfile.mkdtemp(prefix=f"rep{rep}-", dir=base)
            config = {
                "llm": {
                    "provider": "openai",
                    "config": {
                        "model": "agentmem-rules",
                        "openai_base_url": args.base_url,
                        "api_key": "sk-loopback",
                    },
                },
                "embedder": {
                    "provider": "langchain",
                    "config": {
                        "model": embeddings,
                        "embedding_dims": embeddings._e.dim,
                    },
                },
                "vector_store": {
                    "provider": "qdrant",
                    "config": {
                        "collection_name": "bench",
                        "path": os.path.join(path, "qdrant"),
                        "embedding_model_dims": embeddings._e.dim,
                    },
                },
                "history_db_path": os.path.join(path, "history.db"),
            }
            run = _run_sync if args.mode == "sync" else _run_async
            elapsed, cpu, stored, errors = run(args, config, scripts)
            stats = _server(args.base_url, "/stats")
            # Mem0 2.x only adds: every distinct fact a user stated should be stored once
            users_ok = duplicates = 0
            mismatch: list[dict[str, Any]] = []
            stored_total = 0
            for s in scripts:
                texts = [rules.normalise(t) for t in stored[s.user_id]]
                stored_total += len(texts)
                duplicates += len(texts) - len(set(texts))
                if set(texts) == expected[s.user_id].stated and len(texts) == len(set(texts)):
                    users_ok += 1
                elif len(mismatch) < 3:
                    mismatch.append(
                        {
                            "user": s.user_id,
                            "unexpected": sorted(set(texts) - expected[s.user_id].stated),
                            "absent": sorted(expected[s.user_id].stated - set(texts)),
                        }
                    )
            print(
                json.dumps(
                    {
                        "rep": rep,
                        "mode": args.mode,
                        "workers": args.workers,
                        "qdrant_lock": args.qdrant_lock,
                        "elapsed_s": elapsed,
                        "client_cpu_s": cpu,
                        "messages": sum(len(s.messages) for s in scripts),
                        "errors": len(errors),
                        "first_errors": errors[:3],
                        "server": stats,
                        "check": {
                            "users": len(scripts),
                            "users_matching_rules": users_ok,
                            "stored": stored_total,
                            "expected_stored": sum(len(e.stated) for e in expected.values()),
                            "still_valid_if_invalidating": sum(
                                len(e.valid) for e in expected.values()
                            ),
                            "duplicates": duplicates,
                            "mismatches": mismatch,
                        },
                        "versions": {
                            k: version(k) for k in ("mem0ai", "qdrant-client", "openai", "httpx")
                        },
                    }
                ),
                flush=True,
            )
            shutil.rmtree(path, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The loopback LLM server for the intelligent-mode benchmark: a subprocess or in-process.

A subprocess by default: the server then has its own interpreter and GIL, as a real
model server would, and its CPU is not charged to the client being measured (on a
2-core machine the two still share the cores). ``in-process`` runs it on a thread of the
benchmark process (its event loop then competes with the client's for the GIL).
Both speak HTTP on 127.0.0.1 only; :class:`ServerHandle` reads ``/stats`` and changes
``/config`` over HTTP either way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any


class ServerHandle:
    def __init__(self, mode: str, **settings: Any) -> None:
        self.mode = mode
        self.settings = settings
        self._proc: subprocess.Popen[str] | None = None
        self._server: Any = None
        self.base_url = ""

    def __enter__(self) -> ServerHandle:
        if self.mode == "inprocess":
            from agentmem_plugins.testing.llm_server import LLMServer

            self._server = LLMServer(host="127.0.0.1", port=0, **self.settings).__enter__()
            self.base_url = self._server.base_url
            return self
        cmd = [sys.executable, "-m", "agentmem_plugins.testing.llm_server", "--port", "0"]
        for key, value in self.settings.items():
            cmd += [f"--{key.replace('_', '-')}", str(value)]
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if "listening on" not in line:
            self._proc.kill()
            raise RuntimeError(f"LLM server did not start: {line!r}")
        self.base_url = line.strip().rsplit(" ", 1)[-1]
        if not self.base_url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"unexpected server address {self.base_url!r}")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:  # 127.0.0.1 only
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        return self._call("/stats")

    def reset_stats(self) -> None:
        self._call("/reset-stats", {})

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call("/config", changes)

    def issue13_faults(self, fault_rate: float, malformed_rate: float) -> None:
        """Issue 13's fault mix, and the statistics reset: ``fault_rate`` split in thirds
        (429 with ``Retry-After`` 0.2 s, 500, a request held 3 s), ``malformed_rate``
        answers spoilt."""
        third = fault_rate / 3
        self.configure(
            error_rate=2 * third,
            rate_limit_share=0.5,
            timeout_rate=third,
            malformed_rate=malformed_rate,
            retry_after_s=0.2,
            hang_s=3.0,
        )
        self.reset_stats()

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Until no request is in flight (e.g. a hanging 'timeout' request was dropped)."""
        deadline = time.monotonic() + timeout_s
        while self.stats()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.05)


def add_workload_args(parser: argparse.ArgumentParser) -> None:
    """Issue 13's workload: users, turns, server latency and fault mix."""
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--malformed-rate", type=float, default=0.05)


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), or ``None``."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None

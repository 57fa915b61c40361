"""What a call that lets go of the GIL costs its thread while another thread runs Python
(issue 13, seventh pass; diagnostics).

Each call is timed alone and then beside one thread spinning in pure Python, the way an
event loop shares the GIL with busy store threads. A call that keeps the GIL costs the
same both ways; one that lets go of it (numpy over more than ~500 values, a sort, a
socket send) waits up to the interpreter's switch interval (5 ms) to get it back::

    python -m benchmarks.gil_handoffs [--calls 200]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time
from collections.abc import Callable

import numpy as np


def _cases() -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(0)
    scope = rng.random((40, 384), dtype=np.float32)  # one user's memories
    queries = rng.random((2, 384), dtype=np.float32)
    scores = rng.random(40, dtype=np.float32)
    sender, receiver = socket.socketpair()
    receiver.setblocking(False)

    def send() -> None:
        sender.send(b"x" * 1024)
        receiver.recv(65536)

    return {
        "np.linalg.norm, 2 x 384 floats": lambda: np.linalg.norm(queries, axis=1),
        "elementwise product, 2 x 384 floats": lambda: queries * queries,
        "argsort, 40 floats": lambda: np.argsort(scores),
        "matmul (40 x 384) @ (384 x 2)": lambda: scope @ queries.T,
        "socket.send of 1 KB (and its recv)": send,
        "sum(range(1000)) in Python": lambda: sum(range(1000)),
    }


def _ms_per_call(fn: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.mean(times) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=200)
    args = p.parse_args()
    cases = _cases()
    alone = {name: _ms_per_call(fn, args.calls) for name, fn in cases.items()}
    stop = threading.Event()

    def spin() -> None:
        x = 0
        while not stop.is_set():
            for i in range(1000):
                x += i

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    time.sleep(0.05)
    try:
        beside = {name: _ms_per_call(fn, args.calls) for name, fn in cases.items()}
    finally:
        stop.set()
        spinner.join()
    print(f"{'call':40s} {'alone':>9s} {'beside a busy thread':>22s}  (mean ms per call)")
    for name in cases:
        print(f"{name:40s} {alone[name]:9.3f} {beside[name]:22.3f}")


if __name__ == "__main__":
    main()

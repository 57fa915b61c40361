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
import sys
from collections.abc import Sequence

from ._chat_completions import count_tokens
from ._faults import ServerConfig
from ._server import LLMServer

__all__ = ["LLMServer", "ServerConfig", "count_tokens", "main"]


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

"""``agentmem demo``: a bundled multi-session conversation, ingested then searched."""

from __future__ import annotations

import argparse
import json
import re
import time
from contextlib import ExitStack
from datetime import datetime
from importlib import resources
from typing import Any

from ._config import DEFAULT_EMBEDDER
from ._errors import EmbedderError
from ._sync import Memory
from .embeddings import Embedder, make_embedder

__all__ = ["load_demo_conversation", "run_demo"]


def load_demo_conversation() -> dict[str, Any]:
    text = resources.files("agentmem_plugins.data").joinpath("demo_conversation.json").read_text()
    conversation: dict[str, Any] = json.loads(text)
    return conversation


def _pick_embedder(spec: str | None) -> Embedder:
    """The requested (or default) embedder; the offline one when its weights can't be had."""
    import os

    wanted = spec or os.environ.get("AGENTMEM_EMBEDDER") or DEFAULT_EMBEDDER
    try:
        embedder = make_embedder(wanted)
    except EmbedderError as exc:
        first_line = str(exc).splitlines()[0].split(". ")[0]
        print(
            f"note: embedder {wanted!r} is not available here ({first_line}); "
            "using the offline 'hash' embedder instead"
        )
        embedder = make_embedder("hash")
    assert embedder is not None
    return embedder


def run_demo(args: argparse.Namespace) -> int:
    data = load_demo_conversation()
    embedder = _pick_embedder(args.embedder)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", embedder.name).strip("-")
    path = args.path / "demo" / slug
    with ExitStack() as stack:
        fields: dict[str, Any] = {"path": path, "embedder": embedder}
        if args.infer:
            from .testing.llm_server import LLMServer

            server = stack.enter_context(LLMServer(latency_ms=20))
            fields.update(llm_base_url=server.base_url, llm_model="loopback-rules")
            print(f"intelligent mode: loopback LLM server at {server.base_url}")
        memory = stack.enter_context(Memory(**fields))
        user = data["user_id"]
        memory.delete_all(user_id=user)  # the demo starts from scratch each run
        mode = (
            "intelligent (LLM extracts and reconciles facts)" if memory.llm else "fast (verbatim)"
        )
        print(f"store: {path}\nembedder: {embedder.name}\nmode: {mode}\n")

        started = time.perf_counter()
        for number, session in enumerate(data["sessions"], start=1):
            when = datetime.fromisoformat(session["observed_at"])
            result = memory.add(
                session["messages"], user_id=user, metadata={"session": number}, observed_at=when
            )
            print(
                f"session {number} ({when:%Y-%m-%d}): "
                + ", ".join(f"{e.event} {e.text!r}" for e in result.results[:6])
                + (" ..." if len(result.results) > 6 else "")
            )
        elapsed = time.perf_counter() - started
        print(
            f"\ningested {len(data['sessions'])} sessions in {elapsed * 1000:.0f} ms; "
            f"{memory.count(user_id=user)} memories for {user!r}\n"
        )

        for query in data["queries"]:
            print(f"Q: {query}")
            for hit in memory.search(query, user_id=user, limit=3):  # cosine similarity
                print(f"   {hit.score:.3f}  {hit.text}")
        invalid = [
            m
            for m in memory.get_all(user_id=user, include_invalidated=True)
            if m.invalid_at is not None
        ]
        if invalid:
            print("\nno longer true (kept, skipped by default searches):")
            for item in invalid:
                print(f"   {item.text}  ({item.invalid_reason})")
        print(
            f"\nstore kept at {path}  (try: agentmem --path {path} --embedder "
            f"{'hash' if embedder.name.startswith('hash') else embedder.name} list --user-id "
            f"{user})"
        )
    return 0

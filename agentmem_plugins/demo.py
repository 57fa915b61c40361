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
from .embeddings import Embedder, HashEmbedder, make_embedder
from .models.offline import INSTALL_HINT, model_source_installed

__all__ = ["load_demo_conversation", "run_demo"]


def load_demo_conversation() -> dict[str, Any]:
    text = resources.files("agentmem_plugins.data").joinpath("demo_conversation.json").read_text()
    conversation: dict[str, Any] = json.loads(text)
    return conversation


def _pick_embedder(spec: str | None) -> tuple[str, Embedder]:
    """The embedder the demo runs on, and the spec that names it.

    An explicit spec (``--embedder`` or ``AGENTMEM_EMBEDDER``) is used as given. Otherwise
    the first that is available: the default fastembed model if it is cached or can be
    downloaded now (an unreachable Hub costs about a second), the offline model if its
    package is installed (``agentmem-plugins[offline]``), then the weight-free ``hash``.
    """
    import os

    wanted = spec or os.environ.get("AGENTMEM_EMBEDDER")
    chain = [wanted] if wanted else [DEFAULT_EMBEDDER]
    if not wanted and model_source_installed():
        chain.append("offline")
    for candidate in chain:
        try:
            embedder = make_embedder(candidate)
        except EmbedderError as exc:
            first_line = str(exc).splitlines()[0].split(". ")[0]
            print(f"note: embedder {candidate!r} is not available here ({first_line})")
            continue
        assert embedder is not None
        return candidate, embedder
    if not wanted:
        print(f"note: for semantic answers offline: {INSTALL_HINT}")
    print("note: using the offline 'hash' embedder (matches words, not meaning)")
    return "hash", HashEmbedder()


def run_demo(args: argparse.Namespace) -> int:
    data = load_demo_conversation()
    spec, embedder = _pick_embedder(args.embedder)
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
            for hit in memory.search(query, user_id=user, limit=3):  # the default mode
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
            f"\nstore kept at {path}  (try: agentmem --path {path} --embedder {spec} "
            f"list --user-id {user})"
        )
    return 0

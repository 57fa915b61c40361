#!/usr/bin/env bash
# Install (if needed) and start a throwaway PostgreSQL on 127.0.0.1:54329 for the tests.
set -euo pipefail
PGPORT=54329
PGDATA=/tmp/agentmem-pg
if ! command -v initdb >/dev/null 2>&1 && [ ! -d /usr/lib/postgresql ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)
fi
BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || command -v initdb)")
RUN=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd -r -m postgres
  RUN=(runuser -u postgres --)
fi
if "${RUN[@]}" "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  exit 0
fi
rm -rf "$PGDATA" && mkdir -p "$PGDATA"
[ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
"${RUN[@]}" "$BIN/initdb" -D "$PGDATA" -U agentmem --auth=trust >/dev/null
"${RUN[@]}" "$BIN/pg_ctl" -D "$PGDATA" -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1" \
  -l "$PGDATA/log" -w start >/dev/null
"$BIN/createdb" -h 127.0.0.1 -p $PGPORT -U agentmem agentmem 2>/dev/null || true
echo "PostgreSQL running on 127.0.0.1:$PGPORT"

#!/usr/bin/env bash
# Mem0 for workload 3 lives in its own venv: mem0ai's qdrant-client/grpcio stack
# downgrades protobuf (7.x -> 6.x) in the project venv. .bench/ is gitignored.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
"$PY" -m venv .bench/venv
.bench/venv/bin/pip install -q -e . "mem0ai==2.2.1" "langchain>=1.0" psutil
.bench/venv/bin/python -c "import mem0, importlib.metadata as m; print('mem0ai', m.version('mem0ai'))"

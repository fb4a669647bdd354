#!/usr/bin/env bash
# Regenerate sparkplug_b_pb2.py/.pyi from sparkplug_b.proto (needs grpcio-tools, a dev dependency).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-../../.venv/bin/python}
"$PY" -m grpc_tools.protoc -I. --python_out=. --pyi_out=. sparkplug_b.proto

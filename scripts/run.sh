#!/usr/bin/env bash
# Installs what is missing, builds, and starts the reference server (portico-server) on an LMDB
# data directory (./data, or DIR if given) with a demo project, on http://127.0.0.1:8080
# (PORTICO_LISTEN=HOST:PORT to change it). Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev
exec build/dev/examples/server/portico-server --data "${1:-data}" \
  --listen "${PORTICO_LISTEN:-127.0.0.1:8080}" --demo --access-log -

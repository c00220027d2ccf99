#!/usr/bin/env bash
# Installs what is missing, builds, and starts Portico. Until the reference server exists this
# runs the embedding example against a fresh log in a temporary directory (or DIR if given).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev
exec build/dev/examples/embed/portico-embed-example "$@"

#!/usr/bin/env bash
# Installs what is missing, builds, and starts Portico. Until the reference server exists this
# runs the help-desk example (a demo project, a customer and staff at work, and what they see)
# against a fresh log in a temporary directory (or DIR if given).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev
exec build/dev/examples/desk/portico-desk-example "$@"

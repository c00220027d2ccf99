#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: once optimised, once under
# AddressSanitizer + UndefinedBehaviorSanitizer. Idempotent; run from anywhere, as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --workflow --preset dev
cmake --workflow --preset asan
echo "test.sh: every test passed (optimised and sanitized builds)"

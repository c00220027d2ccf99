#!/usr/bin/env bash
# Installs the Debian 12 packages Portico builds and tests with, only those that are missing.
# Idempotent; needs root (or sudo) only when something is actually missing.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-program-options1.81-dev
  liblmdb-dev libfmt-dev doctest-dev libssl-dev libsodium-dev
  libtomlplusplus-dev libhowardhinnant-date-dev tzdata libcurl4-openssl-dev
  liboath-dev libqrencode-dev
  john-data
  python3-aiosmtpd openssl
  chromium fonts-liberation fonts-noto-color-emoji
)
# Node.js runs the browser tests (tests/e2e); the machine's own is used when there is one.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The browser tests' one npm package (playwright-core, which drives Debian's Chromium and
# downloads no browser), exactly as tests/e2e/package-lock.json pins it.
e2e="$(dirname "$0")/../tests/e2e"
if ! cmp -s "$e2e/package-lock.json" "$e2e/node_modules/.portico-lock" 2>/dev/null; then
  echo "install-deps: npm ci in tests/e2e"
  (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.portico-lock)
fi

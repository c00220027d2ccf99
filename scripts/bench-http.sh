#!/usr/bin/env bash
# The HTTP benchmark: wrk against a running portico-server on a fresh data directory with the
# demo project. Prints wrk's requests/s and latency percentiles for 1, 8 and 64 connections per
# route, and the server's resident memory. Not part of the tests (figures: docs/performance.md).
#
#   scripts/bench-http.sh [SECONDS]      (default 5 s per run)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"

command -v wrk >/dev/null || { sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; };
                               sudo_if apt-get install -y wrk >/dev/null; }
cmake --preset dev >/dev/null
cmake --build --preset dev --target portico-server >/dev/null

data="$(mktemp -d /tmp/portico-bench-http-XXXXXX)"
port=18099
build/dev/examples/server/portico-server --data "$data" --listen "127.0.0.1:$port" --demo \
  >"$data.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

echo "| route | connections | requests/s | p50 | p99 |"
echo "| --- | ---: | ---: | ---: | ---: |"
for route in /api/v1/projects/demo /healthz; do
  for c in 1 8 64; do
    threads=$(( c < 2 ? 1 : 2 ))
    out="$(wrk -t"$threads" -c"$c" -d"${seconds}s" --latency "http://127.0.0.1:$port$route")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    echo "| GET $route | $c | $rps | $p50 | $p99 |"
  done
done
echo
echo "server resident memory: $(ps -o rss= -p $server | tr -d ' ') KiB"

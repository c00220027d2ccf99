#!/usr/bin/env bash
# The HTTP benchmark: wrk against a running portico-server on a fresh data directory with the
# demo project. A customer (Ann, signed in with a bearer token) first opens TICKETS tickets
# through the API (durable POSTs, 64 connections); then, at 1, 8 and 64 connections: her ticket
# list, one ticket, and a durable reply to a random one of her tickets. Prints wrk's requests/s
# and latency percentiles, and the server's resident memory after the load. Then long threads:
# at 1, 8 and 64 connections, staff replies to 50 new tickets until each holds more than 2,000
# messages (bench/thread_bench.cpp), with requests/s and p50/p99 per band of 500 messages. Not
# part of the tests (figures: docs/performance.md).
#
#   scripts/bench-http.sh [SECONDS] [TICKETS]      (defaults: 5 s per run, 100000 tickets)
#   scripts/bench-http.sh --threads-only           (only the long threads)
set -euo pipefail
cd "$(dirname "$0")/.."
threads_only=false
if [ "${1:-}" = --threads-only ]; then threads_only=true; shift; fi
seconds="${1:-5}"
tickets="${2:-100000}"

command -v wrk >/dev/null || { sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; };
                               sudo_if apt-get install -y wrk >/dev/null; }
cmake --preset dev >/dev/null
cmake --build --preset dev --target portico-server portico-thread-bench >/dev/null

data="$(mktemp -d /tmp/portico-bench-http-XXXXXX)"
# Every ticket opened e-mails its creator: the development mail directory writes (and fsyncs) one
# file per e-mail, which is not what is measured here, so it goes to memory (/dev/shm).
mail="$(mktemp -d /dev/shm/portico-bench-mail-XXXXXX)"
port=18099
base="http://127.0.0.1:$port"
# One customer writes everything here: her per-caller write limit (--write-rate) is lifted.
build/dev/examples/server/portico-server --data "$data" --listen "127.0.0.1:$port" --demo \
  --mail-dir "$mail" --write-rate 100000000 >"$data.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data" "$mail" "$data.log" "$data".*.lua' EXIT
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
# The demo's passwords are random per data directory: the server printed Ann's.
password="$(sed -nE 's/^portico-server: demo password for customer ann@example\.com: (\S+)$/\1/p' "$data.log")"
staff_password="$(sed -nE 's/^portico-server: demo password for staff agent@demo\.test: (\S+)$/\1/p' "$data.log")"
[ -n "$password" ] && [ -n "$staff_password" ] ||
  { echo "the server printed no demo passwords:" >&2; cat "$data.log" >&2; exit 1; }

token="$(curl -sf -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"project":"demo","email":"ann@example.com","password":"'"$password"'"}' |
  sed -E 's/.*"token":"([^"]+)".*/\1/')"
auth="Authorization: Bearer $token"
staff_token="$(curl -sf -X POST "$base/api/v1/staff/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"agent@demo.test","password":"'"$staff_password"'"}' |
  sed -E 's/.*"token":"([^"]+)".*/\1/')"

long_threads() {
  echo "| connections | messages in the ticket | replies | replies/s | p50 ms | p99 ms | non-201 |"
  echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
  for c in 1 8 64; do
    build/dev/bench/portico-thread-bench --base "$base" --project demo --customer-token "$token" \
      --staff-token "$staff_token" --connections "$c" --tickets 50 --messages 2000 --band 500
  done
  echo
  echo "server resident memory after the long threads: $(ps -o rss= -p $server | tr -d ' ') KiB"
}
if $threads_only; then long_threads; exit 0; fi

# wrk scripts: opening tickets, and replying to a random ticket among the first N.
cat >"$data.open.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"subject":"Benchmark ticket","message":"The installer stops at 80%."}'
LUA
cat >"$data.reply.lua" <<LUA
local tickets = $tickets
request = function()
  local n = math.random(1, tickets)
  return wrk.format("POST", "/api/v1/projects/demo/tickets/" .. n .. "/messages",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer $token"},
    '{"body":"One more detail about the problem."}')
end
LUA

count() {
  curl -sf "$base/api/v1/projects/demo/tickets/overview" -H "$auth" |
    python3 -c 'import json,sys; print(sum(json.load(sys.stdin)["by_status"].values()))'
}
echo "loading $tickets tickets through POST /api/v1/projects/demo/tickets (64 connections)..." >&2
start=$(date +%s.%N)
while [ "$(count)" -lt "$tickets" ]; do
  wrk -t2 -c64 -d5s -s "$data.open.lua" "$base/api/v1/projects/demo/tickets" >/dev/null
done
loaded="$(count)"
elapsed=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
echo "loaded $loaded tickets in ${elapsed}s; server resident memory: $(ps -o rss= -p $server | tr -d ' ') KiB"
echo

run() {  # label connections wrk-arguments...
  local label="$1" c="$2"
  shift 2
  local threads=$(( c < 2 ? 1 : 2 ))
  local out
  out="$(wrk -t"$threads" -c"$c" -d"${seconds}s" --latency "$@")"
  local rps p50 p99 errors
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx/ {print $5}' <<<"$out")"
  echo "| $label | $c | $rps | $p50 | $p99 | ${errors:-0} |"
}

echo "| request | connections | requests/s | p50 | p99 | non-2xx |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for c in 1 8 64; do
  run "GET a customer's ticket list" "$c" -H "$auth" "$base/api/v1/projects/demo/tickets"
done
for c in 1 8 64; do
  run "GET one ticket" "$c" -H "$auth" "$base/api/v1/projects/demo/tickets/1000"
done
for c in 1 8 64; do
  run "POST a message (durable)" "$c" -s "$data.reply.lua" "$base"
done
for c in 64; do
  run "GET /api/v1/projects/demo (no sign-in)" "$c" "$base/api/v1/projects/demo"
done
echo
echo "server resident memory after the runs: $(ps -o rss= -p $server | tr -d ' ') KiB"
echo
long_threads

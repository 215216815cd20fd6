#!/usr/bin/env bash
# Throughput of an authenticated GET /auth/session beside unauthenticated
# routes on the same server, in one run: /health (one Redis PING, like the
# session lookup's one HGETALL) and /healthz (no Redis). Each route is run
# ROUNDS times, interleaved, and the medians are compared.
#   usage: tools/bench/sessions.sh [seconds per run (5)] [rounds (3)] [connections (64)]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-5} rounds=${2:-3} conns=${3:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

go build -o "$work/redlane" ./cmd/redlane
rport=$(free_port) aport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --daemonize no >/dev/null &
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.1; done
# On a real Redis the embedded SQLite has demo users only when asked for.
printf 'apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  database: {seedUsers: 1}\n' >"$work/redlane.yaml"
REDIS_URL="redis://127.0.0.1:$rport/0" LOG_LEVEL=warn "$work/redlane" serve --config "$work/redlane.yaml" --address "127.0.0.1:$aport" --env-file /nonexistent 2>"$work/server.log" &
until curl -sf "http://127.0.0.1:$aport/readyz" >/dev/null; do sleep 0.1; done
tok=$(curl -sf -X POST "http://127.0.0.1:$aport/auth/login" -H 'Content-Type: application/json' \
  -d '{"username":"user1","password":"password123"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["session_token"])')

run() { # route [header] -> requests/s
  local args=(-t2 -c"$conns" -d"${secs}s" --latency)
  [ -n "${2:-}" ] && args+=(-H "$2")
  wrk "${args[@]}" "http://127.0.0.1:$aport$1" | awk '/Requests\/sec/ {print $2}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for i in $(seq "$rounds"); do
  echo "session $(run /auth/session "Authorization: Bearer $tok")" >>"$work/r"
  echo "health $(run /health)" >>"$work/r"
  echo "healthz $(run /healthz)" >>"$work/r"
done
s=$(awk '$1=="session"{print $2}' "$work/r" | median)
h=$(awk '$1=="health"{print $2}' "$work/r" | median)
z=$(awk '$1=="healthz"{print $2}' "$work/r" | median)
printf 'median req/s over %d rounds of %ss, %d connections\n' "$rounds" "$secs" "$conns"
printf '  GET /auth/session (bearer) %10.0f\n  GET /health (1 PING)       %10.0f\n  GET /healthz (no Redis)    %10.0f\n' "$s" "$h" "$z"
python3 -c "print(f'  ratio session/health  = {$s/$h:.2f}\n  ratio session/healthz = {$s/$z:.2f}')"

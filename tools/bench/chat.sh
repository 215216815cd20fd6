#!/usr/bin/env bash
# Chat load test on this machine: one redis-server and two Redlane instances
# on loopback, then tools/bench/redlane-load against both. Everything it
# starts is stopped on exit (by PID).
#
#   tools/bench/chat.sh [redlane-load flags]      e.g. -clients 10000 -rate 0
set -euo pipefail
cd "$(dirname "$0")/../.."
REDIS_PORT=${REDIS_PORT:-16390}
PORTS=(${PORTS:-18001 18002})
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
. tools/bench/lib.sh
bench_workdir

go build -o "$work/redlane" ./cmd/redlane
go build -o "$work/redlane-load" ./tools/bench/redlane-load
start_redis "$REDIS_PORT"
write_redlane_config
targets=()
for p in "${PORTS[@]}"; do
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" LOG_LEVEL=warn "$work/redlane" serve --config "$work/redlane.yaml" --address "127.0.0.1:$p" --env-file /dev/null >"$work/redlane-$p.log" 2>&1 &
  pids+=($!)
  targets+=("http://127.0.0.1:$p")
done
for t in "${targets[@]}"; do
  for _ in $(seq 100); do curl -fs "$t/readyz" >/dev/null && break; sleep 0.1; done
done
"$work/redlane-load" -targets "$(IFS=,; echo "${targets[*]}")" "$@"

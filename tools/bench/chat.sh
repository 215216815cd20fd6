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
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/redlane" ./cmd/redlane
go build -o "$work/redlane-load" ./tools/bench/redlane-load
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
# One load client publishes for many users from one address: the
# per-sender and per-socket publish rates (spec.realtime.publishRate) are
# lifted, or they would measure the limiter.
cat >"$work/redlane.yaml" <<'YAML'
apiVersion: redlane.dev/v1alpha1
kind: RedlaneConfig
spec:
  realtime:
    publishRate: {perConnection: {limit: 1000000, period: 1s}, perSender: {limit: 1000000, period: 1s}}
YAML
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

#!/usr/bin/env bash
# Whole-server load for rate limiting: wrk against
# GET /api/limited-endpoint under a policy whose limit is too high to refuse
# (so every request pays one GCRA decision) and GET /healthz (no policy),
# alternating in the same server run, ROUNDS times each; prints the median
# requests/s of each and their ratio. Loopback only; bounded in time.
#
#   tools/bench/ratelimit.sh            # ROUNDS=5 DURATION=5s CONNS=32
set -euo pipefail
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5s} CONNS=${CONNS:-32}
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$work/redlane" ./cmd/redlane
rport=$(freeport) hport=$(freeport)
redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
cat > "$work/redlane.yaml" <<YAML
apiVersion: redlane.dev/v1alpha1
kind: RedlaneConfig
spec:
  log: {level: warn}
  redis: {url: "redis://127.0.0.1:$rport/0"}
  rateLimits:
  - {name: bench, match: {route: /api/limited-endpoint}, key: ip, limit: 1000000000, period: 1h}
YAML
"$work/redlane" serve --config "$work/redlane.yaml" --address "127.0.0.1:$hport" --env-file /dev/null 2>"$work/redlane.log" & # logs kept for a failed start
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null || { echo "redlane did not become ready:" >&2; cat "$work/redlane.log" >&2; exit 1; }
curl -sf -D - -o /dev/null "http://127.0.0.1:$hport/api/limited-endpoint" | grep -i '^ratelimit' >&2

rps() { wrk -t2 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$hport$1" | awk '/^Requests\/sec/ {print $2}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
: > "$work/limited"; : > "$work/plain"
for i in $(seq "$ROUNDS"); do
  rps /api/limited-endpoint >> "$work/limited"
  rps /healthz >> "$work/plain"
  echo "round $i: limited $(tail -1 "$work/limited") req/s, unlimited $(tail -1 "$work/plain") req/s" >&2
done
l=$(median < "$work/limited") p=$(median < "$work/plain")
echo "median requests/s: rate-limited route $l, unlimited route $p; ratio limited/unlimited $(awk -v l="$l" -v p="$p" 'BEGIN {printf "%.2f", l/p}')"

#!/usr/bin/env bash
# Redlane against Centrifugo v6 in one run, with the identical workload
# (tools/bench/redlane-load, -kind redlane | centrifugo), on this machine:
# one redis-server, two Redlane instances and two Centrifugo nodes (Redis
# engine) on it, every port a free loopback one. Rounds alternate between
# the servers (A B, then B A, ...) so both see the same noise; the summary
# gives medians and the p99 ratio. Everything it starts is stopped on exit
# (by PID). Centrifugo is built once into ~/.cache/redlane-tools
# (tools/bench/centrifugo/install.sh).
#
#   tools/bench/centrifugo.sh [latency|memory|saturated]
#
#   latency    1,000 clients in one room split over the two instances,
#              100 msgs/s of 100 bytes for DURATION, all published to the
#              second instance; ROUNDS rounds per server.
#   memory     10,000 idle sockets (5,000 per instance): RSS per socket
#              from /proc, SETTLE after connecting (130s: one forced GC).
#   saturated  1,000 clients, SATRATE msgs/s (more than either delivers):
#              delivered messages per second.
#
# BASELINE=<git revision> adds a third server, Redlane built from that
# revision, to every round: before/after in the same run. PPROF=1 gives the
# Redlane instances profiling listeners (their addresses are printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-latency}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-20s}
CLIENTS=${CLIENTS:-1000}
RATE=${RATE:-100}
SETTLE=${SETTLE:-130s}
SATRATE=${SATRATE:-1000}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cf=$(tools/bench/centrifugo/install.sh)
. tools/bench/lib.sh
bench_workdir

go build -o "$work/redlane" ./cmd/redlane
go build -o "$work/redlane-load" ./tools/bench/redlane-load
kinds=(redlane centrifugo)
if [ -n "${BASELINE:-}" ]; then
  mkdir "$work/base"
  git archive "$BASELINE" | tar -x -C "$work/base"
  (cd "$work/base" && go build -o "$work/redlane-base" ./cmd/redlane)
  kinds+=(baseline)
fi

REDIS_PORT=$(freeport)
start_redis "$REDIS_PORT"
# Redlane: the publish rates are lifted, as in chat.sh (lib.sh).
write_redlane_config
declare -A targets procs
start_redlane() { # kind binary
  local t=() ps=() p pp
  for _ in 1 2; do
    p=$(freeport)
    extra=()
    if [ -n "${PPROF:-}" ]; then pp=$(freeport); extra=(--pprof-address "127.0.0.1:$pp"); echo "$1 on :$p: pprof http://127.0.0.1:$pp/debug/pprof/"; fi
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" LOG_LEVEL=warn "$2" serve --config "$work/redlane.yaml" --address "127.0.0.1:$p" --env-file /dev/null "${extra[@]}" >"$work/$1-$p.log" 2>&1 &
    pids+=($!); ps+=($!); t+=("http://127.0.0.1:$p")
  done
  targets[$1]=$(IFS=,; echo "${t[*]}"); procs[$1]=$(IFS=,; echo "${ps[*]}")
}
start_redlane redlane "$work/redlane"
[ -n "${BASELINE:-}" ] && start_redlane baseline "$work/redlane-base"

# Centrifugo: two nodes on the same redis-server (Redis engine, its own
# key prefix), anonymous clients may connect and subscribe, publishes go
# through the HTTP API with a per-run key. Channels keep history like
# Redlane's rooms (1,000 messages; recovery on), so each publish costs
# both the same kind of Redis work: append to a stream, then PUBLISH.
apikey=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
t=() ps=()
for n in 1 2; do
  p=$(freeport)
  cat >"$work/centrifugo-$n.json" <<JSON
{
  "http_server": {"address": "127.0.0.1", "port": $p},
  "log": {"level": "error"},
  "node": {"name": "bench-$n"},
  "usage_stats": {"disabled": true},
  "engine": {"type": "redis", "redis": {"address": ["redis://127.0.0.1:$REDIS_PORT"], "prefix": "cfbench"}},
  "client": {"allow_anonymous_connect_without_token": true, "allowed_origins": ["*"]},
  "channel": {"without_namespace": {"allow_subscribe_for_anonymous": true, "allow_subscribe_for_client": true,
    "history_size": 1000, "history_ttl": "24h", "force_recovery": true}},
  "http_api": {"key": "$apikey"},
  "prometheus": {"enabled": true},
  "health": {"enabled": true}
}
JSON
  "$cf" --config "$work/centrifugo-$n.json" >"$work/centrifugo-$p.log" 2>&1 &
  pids+=($!); ps+=($!); t+=("http://127.0.0.1:$p")
done
targets[centrifugo]=$(IFS=,; echo "${t[*]}"); procs[centrifugo]=$(IFS=,; echo "${ps[*]}")

for k in "${kinds[@]}"; do
  path=/readyz; [ "$k" = centrifugo ] && path=/health
  for u in ${targets[$k]//,/ }; do
    for i in $(seq 100); do curl -fs "$u$path" >/dev/null && break; [ "$i" = 100 ] && { echo "$k $u not ready" >&2; cat "$work"/*.log >&2; exit 1; }; sleep 0.2; done
  done
done

load() { # kind flags...
  local k=$1 kind=redlane; shift
  [ "$k" = centrifugo ] && kind=centrifugo
  "$work/redlane-load" -kind "$kind" -api-key "$apikey" -targets "${targets[$k]}" -pids "${procs[$k]}" "$@"
}

results="$work/results"
: >"$results"
echo "mode $MODE, $ROUNDS round(s) per server; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  order=("${kinds[@]}")
  if [ $((r % 2)) = 0 ]; then order=(); for ((i=${#kinds[@]}-1; i>=0; i--)); do order+=("${kinds[$i]}"); done; fi
  for k in "${order[@]}"; do
    echo "== round $r: $k (load average $(cut -d' ' -f1 /proc/loadavg))"
    case "$MODE" in
      latency)   load "$k" -clients "$CLIENTS" -rate "$RATE" -duration "$DURATION" -publish-to 1 | tee "$work/out" ;;
      saturated) load "$k" -clients "$CLIENTS" -rate "$SATRATE" -duration "$DURATION" -publish-to 1 | tee "$work/out" ;;
      memory)    load "$k" -clients "${CLIENTS/#1000/10000}" -rate 0 -settle "$SETTLE" | tee "$work/out" ;;
      *) echo "unknown mode $MODE" >&2; exit 2 ;;
    esac
    grep -E '^(idle-)?result ' "$work/out" | sed "s/kind=[a-z]*/server=$k/" >>"$results"
  done
done

echo
echo "== summary ($MODE; medians over $ROUNDS round(s); load average now $(cut -d' ' -f1-3 /proc/loadavg))"
awk -v mode="$MODE" '
function med(list,   n, a, i, j, t) {
  n = split(list, a, " ")
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j+1] = a[j]; a[j+1] = t }
  return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{
  delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
  s = f["server"]; seen[s] = 1
  if ($1 == "result") { p50[s] = p50[s] " " f["p50_us"]; p99[s] = p99[s] " " f["p99_us"]; mx[s] = mx[s] " " f["max_us"]; lost[s] = lost[s] " " f["lost"]; rate[s] = rate[s] " " f["rate_per_s"]; lostsum[s] += f["lost"] }
  else { split(f["rss_kib_per_socket"], r, ","); rss[s] = rss[s] " " (r[1] + r[2]) / 2 }
}
END {
  for (s in seen) {
    if (p99[s] != "") {
      m99[s] = med(p99[s])
      printf "%-10s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  lost %s (total %d)  delivered %.0f/s\n", s, med(p50[s])/1000, m99[s]/1000, med(mx[s])/1000, med(lost[s]), lostsum[s], med(rate[s])
      printf "%-10s   p99 per round (ms):", s; n = split(p99[s], a, " "); for (i = 1; i <= n; i++) printf " %.2f", a[i]/1000; printf "\n"
    }
    if (mode == "memory" && rss[s] != "") printf "%-10s idle RSS %.2f KiB per socket (median over rounds of the two instances mean)\n", s, med(rss[s])
  }
  if (m99["redlane"] > 0 && m99["centrifugo"] > 0) printf "p99 ratio redlane/centrifugo (medians): %.2f\n", m99["redlane"] / m99["centrifugo"]
  if (m99["baseline"] > 0 && m99["centrifugo"] > 0) printf "p99 ratio baseline/centrifugo (medians): %.2f\n", m99["baseline"] / m99["centrifugo"]
}' "$results"

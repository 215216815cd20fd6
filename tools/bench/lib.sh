# Shared by the bench scripts that run Redlane against a redis-server on
# loopback (chat.sh, centrifugo.sh): source it from the repository root,
# after set -euo pipefail. Everything started through it is stopped on exit
# (by PID), and its work directory removed.

# bench_workdir makes the run's work directory, $work, and the list of PIDs
# to stop on exit, $pids.
bench_workdir() {
  work=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }

# freeport prints a loopback TCP port nobody listens on (and that this
# script has not handed out yet), below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range): a port from that range can be taken by an
# outgoing connection between this check and the server's bind, which once
# stopped a Centrifugo node with "address already in use".
taken=" "
freeport() {
  local p lo
  lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  while :; do
    p=$((10000 + RANDOM % (lo - 10000)))
    case "$taken" in *" $p "*) continue ;; esac
    if ! ss -Htln "sport = :$p" | grep -q .; then taken+="$p "; echo "$p"; return; fi
  done
}

# start_redis PORT runs a redis-server without persistence on
# 127.0.0.1:PORT, its data and log in $work.
start_redis() {
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" &
  pids+=($!)
}

# write_redlane_config writes $work/redlane.yaml for the Redlane instances.
# One load client publishes for many users from one address: the
# per-sender and per-socket publish rates (spec.realtime.publishRate) are
# lifted, or they would measure the limiter.
write_redlane_config() {
  cat >"$work/redlane.yaml" <<'YAML'
apiVersion: redlane.dev/v1alpha1
kind: RedlaneConfig
spec:
  realtime:
    publishRate: {perConnection: {limit: 1000000, period: 1s}, perSender: {limit: 1000000, period: 1s}}
YAML
}

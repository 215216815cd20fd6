#!/usr/bin/env bash
# Installs Centrifugo at a pinned version, built from the Go module proxy,
# into a cache outside the repository
# (${REDLANE_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-tools}), once
# per machine, and prints the binary's path. Benchmarks only
# (tools/bench/centrifugo.sh): CI does not need it.
#
# The build runs under nice: it takes minutes of CPU on a cold module cache
# and must not starve what else shares the machine.
set -euo pipefail
CENTRIFUGO_VERSION=v6.9.1
ROOT="${REDLANE_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-tools}"
GO="${GO:-go}"

bin="$ROOT/centrifugo-$CENTRIFUGO_VERSION"
if [ ! -x "$bin/centrifugo" ]; then
  echo "installing centrifugo $CENTRIFUGO_VERSION into $bin (go install from the module proxy)" >&2
  start=$(date +%s)
  GOBIN="$bin.tmp" GOFLAGS= nice -n 10 "$GO" install "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION"
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
  echo "centrifugo $CENTRIFUGO_VERSION built in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin/centrifugo"

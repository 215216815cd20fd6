#!/usr/bin/env bash
# Installs Centrifugo at a pinned version, built from the Go module proxy,
# into a cache outside the repository
# (${REDLANE_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-tools}), once
# per machine (tools/lib/gobuild.sh), and prints the binary's path. Benchmarks only
# (tools/bench/centrifugo.sh): CI does not need it.
#
# The build runs under nice: it takes minutes of CPU on a cold module cache
# and must not starve what else shares the machine.
set -euo pipefail
. "$(dirname "$0")/../../lib/gobuild.sh"
CENTRIFUGO_VERSION=v6.9.1

build_centrifugo() { # dir
  echo "installing centrifugo $CENTRIFUGO_VERSION into $1 (go install from the module proxy)" >&2
  start=$(date +%s)
  go_install "$1.tmp" "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION" nice -n 10
  rm -rf "$1" && mv "$1.tmp" "$1"
  echo "centrifugo $CENTRIFUGO_VERSION built in $(( $(date +%s) - start )) s" >&2
}
pinned_tool centrifugo "$CENTRIFUGO_VERSION" centrifugo build_centrifugo
echo "$tool_path"

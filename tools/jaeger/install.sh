#!/usr/bin/env bash
# Jaeger v2 (one binary: OTLP gRPC and HTTP receivers, in-memory storage,
# query API) at a pinned version, built from the Go module proxy only, into
# a cache outside the repository (tools/lib/gobuild.sh):
#   ${REDLANE_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-tools}/jaeger-$JAEGER_VERSION/jaeger
# internal/jaegertest runs it from there. `go install pkg@version` refuses
# the module (its go.mod has a replace directive), so this builds
# ./cmd/jaeger inside the downloaded module, as its own main module, which
# keeps Jaeger's own dependency pins. Cold: 54 min wall measured on 2 cores
# shared with two other builds (load ~18), 10m36s user + 3m18s system CPU
# (docs/tracing.md); warm: none. Prints the binary's path.
set -euo pipefail
. "$(dirname "$0")/../lib/gobuild.sh"
JAEGER_VERSION=v1.75.0

build_jaeger() { # dir
  echo "building jaeger $JAEGER_VERSION into $1" >&2
  src=$(module_dir "github.com/jaegertracing/jaeger@$JAEGER_VERSION")
  mkdir -p "$1"
  (cd "$src" && GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 nice -n 10 "$GO" build -trimpath -o "$1/jaeger.tmp" ./cmd/jaeger)
  mv "$1/jaeger.tmp" "$1/jaeger"
}
pinned_tool jaeger "$JAEGER_VERSION" jaeger build_jaeger
echo "$tool_path"

# Builds pinned Go tools from the Go module proxy into a cache outside the
# repository, once per machine:
#   ${REDLANE_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-tools}/<name>-<version>/
# Sourced, after set -euo pipefail, by tools/jaeger/install.sh,
# tools/bench/centrifugo/install.sh and tools/govulncheck/run.sh. Sets
# ROOT (that cache) and GO (the go command, $GO or go). internal/jaegertest
# looks for Jaeger at the same place: keep the two in step.
ROOT="${REDLANE_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-tools}"
GO="${GO:-go}"

# pinned_tool NAME VERSION BINARY BUILD sets tool_path to
# $ROOT/NAME-VERSION/BINARY. Only when that is not an executable file yet
# does it run BUILD (a function of the calling script) with the directory
# $ROOT/NAME-VERSION as its argument, to put BINARY there; a warm cache is
# never rebuilt, or looked at beyond that one test, because a cold build
# can cost many minutes of CPU (Jaeger: 14).
pinned_tool() {
  local dir="$ROOT/$1-$2"
  tool_path="$dir/$3"
  if [ ! -x "$tool_path" ]; then
    "$4" "$dir"
  fi
}

# go_install GOBIN PKG@VERSION [WRAPPER...] runs go install of PKG at its
# pinned VERSION into GOBIN, under WRAPPER if given (nice -n 10). GOFLAGS is
# cleared: the repository's settings are not the tool's.
go_install() {
  local gobin=$1 pkg=$2
  shift 2
  GOBIN="$gobin" GOFLAGS= "$@" "$GO" install "$pkg"
}

# module_dir MODULE@VERSION downloads MODULE at VERSION from the module
# proxy into the module cache and prints its directory there.
module_dir() {
  GOFLAGS= "$GO" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

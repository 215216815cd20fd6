#!/usr/bin/env bash
# govulncheck ./... with pinned versions, from the Go module proxy only.
#
# Installs, once per machine, into a cache outside the repository
# (${REDLANE_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-tools},
# tools/lib/gobuild.sh):
#   - govulncheck at GOVULNCHECK_VERSION (golang.org/x/vuln);
#   - the Go vulnerability database at VULNDB_VERSION: the golang.org/x/vulndb
#     module's OSV files, indexed by its own cmd/indexdb into the v1 layout
#     govulncheck reads with -db file://. vuln.go.dev is not reachable from
#     every machine, and a pinned database makes the verdict repeatable; bump
#     VULNDB_VERSION to learn of newer vulnerabilities.
# `run.sh install` stops there (.ci/run installs ahead of make). Otherwise
# it scans the module and fails when the code calls a vulnerable symbol,
# except standard-library findings listed in accepted-stdlib.txt beside
# this script (each with the Go release that fixes it).
set -euo pipefail
cd "$(dirname "$0")/../.."

. tools/lib/gobuild.sh
GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

install_govulncheck() { # dir
  echo "installing govulncheck $GOVULNCHECK_VERSION into $1" >&2
  go_install "$1" "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
}
pinned_tool govulncheck "$GOVULNCHECK_VERSION" govulncheck install_govulncheck
govulncheck=$tool_path
dbroot="$ROOT/vulndb-$VULNDB_VERSION"
if [ ! -f "$dbroot/db/index/db.json" ]; then
  echo "building the vulnerability database golang.org/x/vulndb@$VULNDB_VERSION into $dbroot" >&2
  go_install "$dbroot/bin" "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION"
  src=$(module_dir "golang.org/x/vulndb@$VULNDB_VERSION")
  rm -rf "$dbroot/db.tmp"
  "$dbroot/bin/indexdb" -vulns "$src/data/osv" -out "$dbroot/db.tmp"
  mv "$dbroot/db.tmp" "$dbroot/db"
fi

[ "${1:-}" = install ] && exit 0

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$govulncheck" -db "file://$dbroot/db" -format json ./... >"$out"

# One line per vulnerability the code reaches: id, module, version, fixed in.
called=$(jq -r 'select(.finding and .finding.trace[0].function) | .finding |
  [.osv, .trace[0].module, (.trace[0].version // "?"), (.fixed_version // "none")] | @tsv' "$out" | sort -u)
accepted=$(grep -v '^#' tools/govulncheck/accepted-stdlib.txt | awk 'NF {print $1}')
fail=0
while IFS=$'\t' read -r id mod ver fixed; do
  [ -n "$id" ] || continue
  if [ "$mod" = stdlib ] && grep -qx "$id" <<<"$accepted"; then
    echo "govulncheck: accepted $id in the standard library $ver (fixed in $fixed; see tools/govulncheck/accepted-stdlib.txt)"
  else
    echo "govulncheck: VULNERABLE $id in $mod $ver (fixed in $fixed): https://pkg.go.dev/vuln/$id"
    fail=1
  fi
done <<<"$called"
if [ "$fail" = 1 ]; then
  echo "govulncheck: the code calls vulnerable symbols; upgrade the module (go get MODULE@FIXED) or Go" >&2
  exit 1
fi
echo "govulncheck: no vulnerable symbol called outside the accepted list (database $VULNDB_VERSION)"

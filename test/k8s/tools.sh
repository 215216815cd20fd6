#!/usr/bin/env bash
# Builds the pinned Kubernetes toolchain the chart tests use (test/k8s), from
# the Go module proxy only, into a cache outside the repository:
#
#   ${REDLANE_K8S_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-k8s-tools}/<toolset>/
#     bin/    helm kubectl kube-apiserver kube-controller-manager kube-scheduler
#             etcd kwok tilt kubeconform kube-score
#     share/  swagger.json (k8s.io/kubernetes api/openapi-spec), kwok-stages.yaml,
#             crds/ (ServiceMonitor + PrometheusRule from prometheus-operator)
#
# Once per machine: a cold build takes about half an hour on 2 cores (29 and
# 35 minutes in two measured runs, the second with other builds sharing the
# cores); a warm run returns in well under a second. Idempotent (each tool is
# built to a temporary name and renamed into place; finished tools are not
# rebuilt) and safe when two runs race (flock on <toolset>.lock).
#
# How each tool is built (scratch modules, replace lines, go.sum copies) is
# in the kube_module and build_* functions below.
#
# Usage: test/k8s/tools.sh          build what is missing, print the directory
#        test/k8s/tools.sh --dir    print the directory only (builds nothing)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

K8S_VERSION=v1.35.4
K8S_STAGING_VERSION=v0.35.4
HELM_VERSION=v3.22.0
ETCD_VERSION=v3.6.5
KWOK_VERSION=v0.8.0
TILT_VERSION=v0.33.21
KUBECONFORM_VERSION=v0.8.0
KUBESCORE_VERSION=v1.20.0
PROMOP_VERSION=v0.85.0
# Bump the suffix when the recipe changes without a version change.
TOOLSET="k8s-${K8S_VERSION}-helm-${HELM_VERSION}-etcd-${ETCD_VERSION}-kwok-${KWOK_VERSION}-tilt-${TILT_VERSION}-r1"

ROOT="${REDLANE_K8S_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-k8s-tools}"
DIR="$ROOT/$TOOLSET"

if [[ "${1:-}" == "--dir" ]]; then
	echo "$DIR"
	exit 0
fi

mkdir -p "$ROOT"
exec 9>"$ROOT/$TOOLSET.lock"
if ! flock -n 9; then
	echo "tools.sh: another build holds $ROOT/$TOOLSET.lock; waiting" >&2
	flock 9
fi

# .complete-2: complete as this script builds it now (a toolset marked only
# .complete, from before tilt's web stand-in, gets its missing steps).
if [[ -f "$DIR/.complete-2" ]]; then
	echo "$DIR"
	exit 0
fi

mkdir -p "$DIR/bin" "$DIR/share/crds" "$DIR/src" "$DIR/log"
BIN="$DIR/bin"
SRC="$DIR/src"
# Our own module settings must not leak into the scratch modules.
export GOWORK=off GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
cd "$SRC"

log() { printf '%s tools.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# step NAME CMD...: runs CMD unless bin/NAME (or share/NAME) exists; output
# goes to log/NAME.log and is shown on failure.
step() {
	local name=$1
	shift
	if [[ -e "$BIN/$name" || -e "$DIR/share/$name" ]]; then
		return 0
	fi
	log "building $name"
	local start=$SECONDS
	# In the background so that set -e stays in force inside "$@" (it is
	# ignored in the condition of an if).
	("$@") >"$DIR/log/$name.log" 2>&1 &
	if ! wait $!; then
		log "FAILED: $name (log $DIR/log/$name.log)"
		tail -n 40 "$DIR/log/$name.log" >&2
		exit 1
	fi
	log "built $name in $((SECONDS - start))s"
}

# gobuild OUT PKG [ldflags]: go build into a temporary name, then rename.
gobuild() {
	local out=$1 pkg=$2 ldflags="-s -w ${3:-}"
	go build -trimpath -ldflags "$ldflags" -o "$out.tmp.$$" "$pkg"
	mv -f "$out.tmp.$$" "$out"
}

# moddir PATH@VERSION: downloads a module and prints its directory.
moddir() {
	local dir
	dir=$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[[ -n "$dir" && -d "$dir" ]] || {
		echo "tools.sh: cannot download $1" >&2
		return 1
	}
	echo "$dir"
}

# kube: kube-apiserver, kube-controller-manager, kube-scheduler and kubectl
# from one scratch module whose replace block points every staging module
# at its published version.
kube_module() {
	mkdir -p "$SRC/kube"
	cd "$SRC/kube"
	[[ -f go.sum ]] && return 0
	local kdir
	kdir="$(moddir "k8s.io/kubernetes@$K8S_VERSION")"
	{
		echo "module example.com/kubebuild"
		echo
		echo "go 1.25.0"
		echo
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo
		echo "tool ("
		echo "	k8s.io/kubernetes/cmd/kube-apiserver"
		echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
		echo "	k8s.io/kubernetes/cmd/kube-scheduler"
		echo "	k8s.io/kubernetes/cmd/kubectl"
		echo ")"
		echo
		echo "replace ("
		grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/' "$kdir/go.mod" |
			awk -v v="$K8S_STAGING_VERSION" '{print "\t" $1 " => " $1 " " v}'
		echo ")"
	} >go.mod.tmp
	mv go.mod.tmp go.mod
	go mod tidy
}

KUBE_LDFLAGS="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35 \
-X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=35"

build_kube() {
	kube_module
	cd "$SRC/kube"
	gobuild "$BIN/$1" "k8s.io/kubernetes/cmd/$1" "$KUBE_LDFLAGS"
}

build_etcd() {
	mkdir -p "$SRC/etcd"
	cd "$SRC/etcd"
	local edir
	edir="$(moddir "go.etcd.io/etcd/server/v3@$ETCD_VERSION")"
	# etcd server's go.mod, renamed, without its toolchain line and its
	# replace directives (local paths and FORBIDDEN_DEPENDENCY markers).
	awk '
		/^module / { print "module example.com/etcdbuild"; next }
		/^toolchain / { next }
		/^replace \($/ { skip = 1; next }
		skip && /^\)$/ { skip = 0; next }
		skip { next }
		/^replace / { next }
		{ print }
	' "$edir/go.mod" >go.mod
	cat >>go.mod <<EOF

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
EOF
	cp "$edir/go.sum" go.sum
	chmod u+w go.sum
	GOFLAGS="$GOFLAGS -mod=mod" gobuild "$BIN/etcd" go.etcd.io/etcd/server/v3
}

build_goinstall() { # NAME MODULE/PKG VERSION [LDFLAGS]
	mkdir -p "$SRC/$1"
	cd "$SRC/$1"
	GOBIN="$SRC/$1" go install -trimpath -ldflags "-s -w ${4:-}" "$2@$3"
	mv -f "$SRC/$1/$(basename "$2")" "$BIN/$1"
}

build_tilt() {
	mkdir -p "$SRC/tilt"
	cd "$SRC/tilt"
	local tdir
	tdir="$(moddir "github.com/tilt-dev/tilt@$TILT_VERSION")"
	# tilt's own go.mod (go, require and replace blocks unchanged) and its
	# go.sum, so no sumdb lookups are needed; no go mod tidy (it would
	# upgrade dozens of dependencies).
	sed 's#^module .*#module example.com/tiltbuild#' "$tdir/go.mod" >go.mod
	printf '\nrequire github.com/tilt-dev/tilt %s\n' "$TILT_VERSION" >>go.mod
	# Tilt's release builds embed its web UI (built with yarn) in
	# pkg/assets/build; the module holds only robots.txt there, and a build
	# without it refuses to start (`tilt up`/`tilt ci`: "Could not find Tilt
	# web static files", or "JS/CSS files are not available" with
	# --web-mode=prod). A copy of the module with a one-page stand-in
	# embedded instead: --web-mode=prod then runs, and the browser UI says
	# it is not part of this build (the terminal, `tilt ci` and the API are).
	rm -rf "$SRC/tilt-src"
	cp -r "$tdir" "$SRC/tilt-src"
	chmod -R u+w "$SRC/tilt-src"
	cp "$HERE/tilt-web-stand-in.html" "$SRC/tilt-src/pkg/assets/build/index.html"
	printf '\nreplace github.com/tilt-dev/tilt => %s\n' "$SRC/tilt-src" >>go.mod
	cp "$tdir/go.sum" go.sum
	chmod u+w go.mod go.sum
	# Tilt's Tiltfile language server links tree-sitter, which needs cgo.
	CGO_ENABLED=1 GOFLAGS="$GOFLAGS -mod=mod" gobuild "$BIN/tilt" github.com/tilt-dev/tilt/cmd/tilt
	touch "$DIR/share/tilt-web-stand-in"
}

share_swagger() {
	cp "$(moddir "k8s.io/kubernetes@$K8S_VERSION")/api/openapi-spec/swagger.json" "$DIR/share/swagger.json.tmp"
	chmod u+w "$DIR/share/swagger.json.tmp"
	mv "$DIR/share/swagger.json.tmp" "$DIR/share/swagger.json"
}

share_kwok_stages() {
	"$BIN/kubectl" kustomize "$(moddir "sigs.k8s.io/kwok@$KWOK_VERSION")/kustomize/stage/fast" >"$DIR/share/kwok-stages.yaml.tmp"
	mv "$DIR/share/kwok-stages.yaml.tmp" "$DIR/share/kwok-stages.yaml"
}

share_crds() {
	local pdir f
	pdir="$(moddir "github.com/prometheus-operator/prometheus-operator@$PROMOP_VERSION")"
	for f in servicemonitors prometheusrules; do
		cp "$pdir/example/prometheus-operator-crd/monitoring.coreos.com_$f.yaml" "$DIR/share/crds.tmp.$f.yaml"
		chmod u+w "$DIR/share/crds.tmp.$f.yaml"
		mv "$DIR/share/crds.tmp.$f.yaml" "$DIR/share/crds/$f.yaml"
	done
	touch "$DIR/share/crds/.done"
}

total=$SECONDS
# Version stamps as helm's Makefile sets them (default capabilities 1.37,
# from its k8s.io/client-go v0.37): without them helm template assumes
# Kubernetes 1.20 and rejects the chart's kubeVersion.
HELM_K8S="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37"
(step helm build_goinstall helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
	"-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION $HELM_K8S")
(step kube-apiserver build_kube kube-apiserver)
(step kube-controller-manager build_kube kube-controller-manager)
(step kube-scheduler build_kube kube-scheduler)
(step kubectl build_kube kubectl)
(step etcd build_etcd)
(step kwok build_goinstall kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION")
(step kubeconform build_goinstall kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION")
(step kube-score build_goinstall kube-score github.com/zegl/kube-score/cmd/kube-score "$KUBESCORE_VERSION")
# (share/tilt-web-stand-in marks the build with the web stand-in; a toolset
# built before it gets tilt rebuilt)
(step tilt-web-stand-in build_tilt)
(step swagger.json share_swagger)
(step kwok-stages.yaml share_kwok_stages)
[[ -f "$DIR/share/crds/.done" ]] || (share_crds)

# A tool that exists but does not run means a broken build: fail loudly.
"$BIN/helm" version --short >/dev/null
"$BIN/kubectl" version --client >/dev/null
"$BIN/etcd" --version >/dev/null
"$BIN/kube-apiserver" --version >/dev/null
"$BIN/kwok" --version >/dev/null
"$BIN/tilt" version >/dev/null
"$BIN/kubeconform" -v >/dev/null
"$BIN/kube-score" version >/dev/null

touch "$DIR/.complete-2"
log "toolset ready in $((SECONDS - total))s: $DIR"
echo "$DIR"

#!/usr/bin/env bash
# Builds what a real node needs besides containerd (apt): the kubelet and
# kube-proxy of the pinned Kubernetes version, from a copy of the scratch
# module test/k8s/tools.sh made for the control plane (so tools.sh must have
# run), and CoreDNS, all from the Go module proxy, into a cache directory:
#
#   ${REDLANE_NODE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-node}/k8s-v1.35.4/bin/
#     kubelet kube-proxy coredns
#
# The kubelet takes about two minutes after tools.sh (its compiled packages
# are in Go's build cache), kube-proxy half a minute, CoreDNS a few minutes;
# under a second when built. test/k8s/node.go runs them (TestKubeletRunsImages,
# TestChartOnRealNode).
#
# Usage: test/k8s/kubelet.sh          build it unless built, print the directory
#        test/k8s/kubelet.sh --dir    print the directory only (builds nothing)
set -euo pipefail

K8S_VERSION=v1.35.4
COREDNS_VERSION=v1.12.4
DIR="${REDLANE_NODE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-node}/k8s-${K8S_VERSION}"
if [[ "${1:-}" == "--dir" ]]; then
	echo "$DIR"
	exit 0
fi
if [[ -x "$DIR/bin/kubelet" && -x "$DIR/bin/kube-proxy" && -x "$DIR/bin/coredns" ]]; then
	echo "$DIR"
	exit 0
fi
TOOLS=$(bash "$(dirname "$0")/tools.sh" --dir)
# .complete-2: tools.sh's completion marker (see there).
if [[ ! -f "$TOOLS/.complete-2" || ! -f "$TOOLS/src/kube/go.mod" ]]; then
	echo "kubelet.sh: run test/k8s/tools.sh first (its scratch module builds the kubelet too)" >&2
	exit 1
fi
mkdir -p "$DIR/bin" "$DIR/src"
cp "$TOOLS/src/kube/go.mod" "$TOOLS/src/kube/go.sum" "$DIR/src/"
cd "$DIR/src"
export GOWORK=off GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0
# The version ldflags as tools.sh sets them: without them the binaries
# report v0.0.0-master and the API server's version checks fail.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35"
for cmd in kubelet kube-proxy; do
	if [[ ! -x "$DIR/bin/$cmd" ]]; then
		go build -trimpath -ldflags "$ldflags" -o "$DIR/bin/$cmd.tmp.$$" "k8s.io/kubernetes/cmd/$cmd"
		mv "$DIR/bin/$cmd.tmp.$$" "$DIR/bin/$cmd"
	fi
done
if [[ ! -x "$DIR/bin/coredns" ]]; then
	(cd / && GOFLAGS=-buildvcs=false GOBIN="$DIR/bin/coredns.tmp.$$" go install -trimpath -ldflags "-s -w" \
		"github.com/coredns/coredns@$COREDNS_VERSION")
	mv "$DIR/bin/coredns.tmp.$$/coredns" "$DIR/bin/coredns"
	rmdir "$DIR/bin/coredns.tmp.$$"
fi
echo "$DIR"

#!/usr/bin/env bash
# Builds the kubelet of the pinned Kubernetes version from the Go module
# proxy, from a copy of the scratch module test/k8s/tools.sh made for the
# control plane (so tools.sh must have run), into its own cache directory:
#
#   ${REDLANE_NODE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-node}/k8s-v1.35.4/bin/kubelet
#
# About two minutes after tools.sh (its compiled packages are in Go's build
# cache), under a second when built. test/image's TestKubeletRunsImages runs
# it with containerd (apt) as a real node.
#
# Usage: test/k8s/kubelet.sh          build it unless built, print the directory
#        test/k8s/kubelet.sh --dir    print the directory only (builds nothing)
set -euo pipefail

K8S_VERSION=v1.35.4
DIR="${REDLANE_NODE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-node}/k8s-${K8S_VERSION}"
if [[ "${1:-}" == "--dir" ]]; then
	echo "$DIR"
	exit 0
fi
if [[ -x "$DIR/bin/kubelet" ]]; then
	echo "$DIR"
	exit 0
fi
TOOLS=$(bash "$(dirname "$0")/tools.sh" --dir)
if [[ ! -f "$TOOLS/.complete" || ! -f "$TOOLS/src/kube/go.mod" ]]; then
	echo "kubelet.sh: run test/k8s/tools.sh first (its scratch module builds the kubelet too)" >&2
	exit 1
fi
mkdir -p "$DIR/bin" "$DIR/src"
cp "$TOOLS/src/kube/go.mod" "$TOOLS/src/kube/go.sum" "$DIR/src/"
cd "$DIR/src"
export GOWORK=off GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0
# The version ldflags as tools.sh sets them: without them the kubelet
# reports v0.0.0-master and the API server's version checks fail.
go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35" \
	-o "$DIR/bin/kubelet.tmp.$$" k8s.io/kubernetes/cmd/kubelet
mv "$DIR/bin/kubelet.tmp.$$" "$DIR/bin/kubelet"
echo "$DIR"

#!/usr/bin/env bash
# Builds the Dockerfile's runtime and dev targets with podman, on the base
# images tools/image/bases.sh assembles (no registry is needed), and prints
# their sizes:
#
#   localhost/redlane:${IMAGE_TAG:-local}        runtime (the default target)
#   localhost/redlane:${IMAGE_TAG:-local}-dev    dev (what Tilt deploys)
#   localhost/podman-pause:4.3.1-0               podman's own, for the real-node tests
#
# Go's module and build caches are the Dockerfile's cache mounts, which
# buildah keeps under $TMPDIR/buildah-cache-<uid>: TMPDIR points into the
# same cache as the base images, so a warm build reuses them (and podman's
# layer cache skips unchanged steps altogether).
#
# Usage: tools/image/build.sh    (make image)
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${REDLANE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-image}"
TAG="${IMAGE_TAG:-local}"
VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)

start=$SECONDS
args=()
while IFS= read -r kv; do
	args+=(--build-arg "$kv")
done < <(bash tools/image/bases.sh | grep -E '^(GO|RUNTIME|DEV)_IMAGE=')

# The builder's `go mod download` reads the host's module cache as a file://
# proxy (filled here, where the machine's network and CAs are), so the build
# itself needs no network and trusts no host certificate.
go mod download
modcache=$(go env GOMODCACHE)

mkdir -p "$CACHE/tmp"
# --pull=never: the bases are local; the ulimits: this host refuses podman's
# default setrlimit (no CAP_SYS_RESOURCE).
# --format docker: the dev stage's SHELL exists only in Docker's image format
# (and `docker build` makes that format too).
build=("${PODMAN[@]}" build --format docker --pull=never --network none --layers
	--ulimit nofile=1024:1024 --ulimit nproc=1024:1024
	--volume "$modcache/cache/download:/goproxy:ro" --build-arg GOPROXY=file:///goproxy
	"${args[@]}" --build-arg "VERSION=$VERSION")

# The builder stage gets a name so that it stays podman's layer cache while
# the superseded ones are pruned below (each is some 270 MB).
TMPDIR="$CACHE/tmp" "${build[@]}" --target builder -t "localhost/redlane-builder:$TAG" .
TMPDIR="$CACHE/tmp" "${build[@]}" --target runtime -t "localhost/redlane:$TAG" .

# The dev target copies bin/tilt/redlane, which Tilt compiles on the host
# and then live-updates. Here it gets the runtime image's binary instead of a
# second full compile (minutes on a cold cache); Tilt replaces it anyway.
mkdir -p bin/tilt
ctr=$("${PODMAN[@]}" create "localhost/redlane:$TAG")
"${PODMAN[@]}" cp "$ctr:/usr/local/bin/redlane" bin/tilt/redlane
"${PODMAN[@]}" rm "$ctr" >/dev/null
TMPDIR="$CACHE/tmp" "${build[@]}" --target dev -t "localhost/redlane:$TAG-dev" .

"${PODMAN[@]}" image prune --force >/dev/null

# podman's pause image (catatonit), built locally when podman creates its
# first pod: the real-node tests give it to containerd as the sandbox image.
if ! "${PODMAN[@]}" image exists localhost/podman-pause:4.3.1-0; then
	"${PODMAN[@]}" pod create --name "redlane-pause-$$" >/dev/null
	"${PODMAN[@]}" pod rm --force "redlane-pause-$$" >/dev/null
fi

echo "make image: done in $((SECONDS - start)) s"
for img in "localhost/redlane:$TAG" "localhost/redlane:$TAG-dev"; do
	"${PODMAN[@]}" image inspect --format "$img {{.Size}} bytes" "$img"
done

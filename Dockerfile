# syntax=docker/dockerfile:1.7
#
# Redlane container image.
#
#   docker build -t redlane:dev --build-arg VERSION=$(git describe --tags --always) .
#   docker build --target dev -t redlane:tilt .      # Tilt's live-update image (see Tiltfile)
#   make image      # the same two targets with podman, from base images assembled
#                   # locally by tools/image/bases.sh (no registry needed)
#
# The runtime image is distroless/static: no shell, no package manager, CA
# certificates and tzdata only. It runs as the numeric non-root user
# 65532:65532 and writes nothing to disk, so it works with
# readOnlyRootFilesystem: true (the chart sets it).

# Pinned builder: the Go release go.mod asks for. Bump together with go.mod
# (and GO_VERSION in tools/image/bases.sh). The three base images are build
# arguments so that `make image` can build this file with local stand-ins.
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot
ARG DEV_IMAGE=gcr.io/distroless/static-debian12:debug-nonroot

FROM ${GO_IMAGE} AS builder
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Go's default; `make image` passes a file:// proxy (the host's module cache,
# mounted read-only) so that the build needs no network.
ARG GOPROXY=https://proxy.golang.org,direct
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
# The same flags as `make build`: static, reproducible paths, version stamped.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/redlane ./cmd/redlane

# dev: what Tilt deploys. Tilt compiles bin/tilt/redlane on the host
# (linux/amd64 or arm64, CGO_ENABLED=0) and live-updates it into /app; the
# busybox wrapper tools/image/restart-on-change restarts the process whenever
# the file changes, so an edit reaches the pod in seconds without an image
# build. Not for production (it has a shell and a writable /app). The wrapper
# is a file rather than a heredoc so that podman 4.3 (buildah 1.28, which has
# no heredocs) builds this stage too.
FROM ${DEV_IMAGE} AS dev
SHELL ["/busybox/sh", "-c"]
COPY --chown=65532:65532 --chmod=0755 tools/image/restart-on-change /app/restart-on-change
COPY --chown=65532:65532 bin/tilt/redlane /app/redlane
USER 65532:65532
WORKDIR /app
EXPOSE 8000
ENTRYPOINT ["/app/restart-on-change", "/app/redlane"]
CMD ["serve"]

# runtime (the default target): the static binary and nothing else.
FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=builder /out/redlane /usr/local/bin/redlane
USER 65532:65532
WORKDIR /
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/redlane"]
CMD ["serve"]

#!/usr/bin/env bash
# Assembles, without any container registry, the base images the Dockerfile
# and the image tests build on, and loads them into podman's local store:
#
#   localhost/redlane-go:1.26.8-busybox         builder: Go 1.26.8 (the module proxy's
#                                               golang.org/toolchain), busybox sh, CA certs
#   localhost/redlane-base-static:debian12-nonroot
#                                               what gcr.io/distroless/static-debian12:nonroot
#                                               holds: CA certs, tzdata, netbase, os-release,
#                                               passwd/group with nonroot 65532; nothing else
#   localhost/redlane-base-static:debian12-debug-nonroot
#                                               the same plus busybox in /busybox (the dev target)
#   localhost/redlane-redis:7.0.15-debian12     Debian 12's redis-server/redis-cli 7.0.15 with the
#                                               shared libraries they link, getent, busybox sh,
#                                               uid 999
#   localhost/redlane-wget:1.21.3-debian12      Debian 12's GNU wget 1.21.3 with the libraries it
#                                               links, CA certs (the chart's helm test pod runs it)
#   localhost/redlane-postgres:15-debian12      Debian 12's PostgreSQL 15 with the libraries it
#                                               links, busybox sh, nss_wrapper, an entrypoint
#                                               for POSTGRES_USER/PASSWORD/DB and PGDATA
#
# The names say what they are: none of them is the upstream image it stands
# in for (Debian's Redis is 7.0.15, not the chart's default 7.4.6).
# Debian packages come from apt (`apt-get download`), the Go toolchain from
# the Go module proxy; both are kept in the cache below, with each image's
# root file system as a tarball. A warm run only checks that the images
# exist with this recipe's label (well under a second per image).
#
#   ${REDLANE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-image}/
#     debs/ go/ rootfs/<image>.tar
#
# Usage: tools/image/bases.sh              build what is missing, print the names
#        tools/image/bases.sh --names      print the names only (builds nothing)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

GO_VERSION=1.26.8
REDIS_VERSION=7.0.15
WGET_VERSION=1.21.3
# Debian 12's PostgreSQL (the chart's default image is 17.6).
POSTGRES_MAJOR=15
# Bump when the recipe changes without a version change: images carrying an
# older recipe label are rebuilt.
RECIPE=r2

BUILDER_IMAGE="localhost/redlane-go:${GO_VERSION}-busybox"
STATIC_IMAGE="localhost/redlane-base-static:debian12-nonroot"
DEBUG_IMAGE="localhost/redlane-base-static:debian12-debug-nonroot"
REDIS_IMAGE="localhost/redlane-redis:${REDIS_VERSION}-debian12"
WGET_IMAGE="localhost/redlane-wget:${WGET_VERSION}-debian12"
POSTGRES_IMAGE="localhost/redlane-postgres:${POSTGRES_MAJOR}-debian12"

names() {
	printf 'GO_IMAGE=%s\nRUNTIME_IMAGE=%s\nDEV_IMAGE=%s\nREDIS_IMAGE=%s\nWGET_IMAGE=%s\nPOSTGRES_IMAGE=%s\n' \
		"$BUILDER_IMAGE" "$STATIC_IMAGE" "$DEBUG_IMAGE" "$REDIS_IMAGE" "$WGET_IMAGE" "$POSTGRES_IMAGE"
}
if [[ "${1:-}" == "--names" ]]; then
	names
	exit 0
fi

CACHE="${REDLANE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/redlane-image}"
mkdir -p "$CACHE/debs" "$CACHE/rootfs"
exec 9>"$CACHE/bases.lock"
flock 9

# runc, not crun (crun fails on this cgroup v1/hybrid host), and cgroupfs
# (no systemd). See docs/kubernetes.md.
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)

log() { printf '%s bases.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# deb PACKAGE: the path of PACKAGE's .deb for this machine's apt candidate,
# downloaded once into the cache.
deb() {
	local pkg=$1 ver file
	ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
	if [[ -z "$ver" || "$ver" == "(none)" ]]; then
		echo "bases.sh: apt has no candidate for $pkg (run apt-get update)" >&2
		return 1
	fi
	file=$(ls "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | grep -F "${ver#*:}_" | head -n1 || true)
	if [[ -z "$file" ]]; then
		(cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2)
		file=$(ls "$CACHE/debs/${pkg}_"*.deb | grep -F "${ver#*:}_" | head -n1)
	fi
	echo "$file"
}

# busybox_into DIR BINDIR: busybox-static in DIR/BINDIR with one link per applet.
busybox_into() {
	local root=$1 bindir=$2 tmp
	tmp=$(mktemp -d)
	dpkg-deb -x "$(deb busybox-static)" "$tmp"
	mkdir -p "$root$bindir"
	cp "$tmp/bin/busybox" "$root$bindir/busybox"
	rm -rf "$tmp"
	local applet
	for applet in $("$root$bindir/busybox" --list); do
		[[ -e "$root$bindir/$applet" ]] || ln -s busybox "$root$bindir/$applet"
	done
}

busybox_bin() { busybox_into "$1" /bin; }
busybox_debug() { busybox_into "$1" /busybox; }

# certs_into DIR: /etc/ssl/certs/ca-certificates.crt built from Debian's
# ca-certificates the way update-ca-certificates builds it (every Mozilla
# certificate, concatenated in order).
certs_into() {
	local root=$1 tmp
	tmp=$(mktemp -d)
	dpkg-deb -x "$(deb ca-certificates)" "$tmp"
	mkdir -p "$root/etc/ssl/certs"
	find "$tmp/usr/share/ca-certificates/mozilla" -name '*.crt' | LC_ALL=C sort |
		while read -r c; do cat "$c"; [[ -z "$(tail -c1 "$c")" ]] || echo; done >"$root/etc/ssl/certs/ca-certificates.crt"
	rm -rf "$tmp"
}

# skeleton DIR: the files distroless static has besides certs and tzdata.
skeleton() {
	local root=$1 tmp
	mkdir -p "$root"/{etc,tmp,home/nonroot,root,var/lib/dpkg/status.d,usr/lib}
	chmod 1777 "$root/tmp"
	chmod 0700 "$root/root"
	cat >"$root/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/sbin/nologin
		nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
		nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
	EOF
	cat >"$root/etc/group" <<-'EOF'
		root:x:0:
		nobody:x:65534:
		tty:x:5:
		staff:x:50:
		nonroot:x:65532:
	EOF
	chown 65532:65532 "$root/home/nonroot"
	echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
	tmp=$(mktemp -d)
	dpkg-deb -x "$(deb netbase)" "$tmp"
	cp "$tmp/etc/protocols" "$tmp/etc/services" "$root/etc/"
	dpkg-deb -x "$(deb base-files)" "$tmp"
	cp "$tmp/usr/lib/os-release" "$root/usr/lib/os-release"
	ln -sf ../usr/lib/os-release "$root/etc/os-release"
	rm -rf "$tmp"
}

# tzdata_into DIR: Debian's zoneinfo, without the "right/" leap-second
# copies (distroless leaves them out too).
tzdata_into() {
	local root=$1 tmp
	tmp=$(mktemp -d)
	dpkg-deb -x "$(deb tzdata)" "$tmp"
	mkdir -p "$root/usr/share"
	cp -a "$tmp/usr/share/zoneinfo" "$root/usr/share/zoneinfo"
	rm -rf "$root/usr/share/zoneinfo/right"
	rm -rf "$tmp"
}

# go_into DIR: the pinned Go toolchain from the module proxy in DIR/usr/local/go.
go_into() {
	local root=$1 dir
	dir=$(cd / && GOFLAGS=-modcacherw GOTOOLCHAIN=local GOMODCACHE="$CACHE/go" \
		go mod download -json "golang.org/toolchain@v0.0.1-go${GO_VERSION}.linux-amd64" |
		sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
	[[ -f "$dir/bin/go" ]] || { echo "bases.sh: no toolchain in $dir" >&2; return 1; }
	mkdir -p "$root/usr/local"
	cp -a "$dir" "$root/usr/local/go"
	chmod -R u+w,go-w "$root/usr/local/go"
	# Module zips carry no modes: the go command sets these when it switches
	# toolchains itself (cmd/go/internal/toolchain).
	chmod 0755 "$root/usr/local/go/bin/"* "$root/usr/local/go/pkg/tool/"*/*
	# Tests and the module proxy's marker file are not needed to build.
	rm -rf "$root/usr/local/go/test" "$root/usr/local/go/go.env.mod"
}

# libs_into DIR BINARY...: the shared libraries the dynamic loader resolves
# for the binaries on this Debian host (the same release as the .debs),
# in DIR's /lib64 and /usr/lib/x86_64-linux-gnu.
libs_into() {
	local root=$1 lib
	shift
	mkdir -p "$root/lib64" "$root/usr/lib/x86_64-linux-gnu"
	if for b in "$@"; do ldd "$b"; done | grep -q 'not found'; then
		echo "bases.sh: $* need libraries this host lacks (apt-get install redis-server postgresql):" >&2
		for b in "$@"; do ldd "$b"; done | grep 'not found' >&2
		return 1
	fi
	for lib in $(for b in "$@"; do ldd "$b"; done | awk '/=> \// {print $3} /^\s*\/lib64/ {print $1}' | sort -u); do
		if [[ "$lib" == /lib64/* ]]; then
			cp -L "$lib" "$root/lib64/"
		else
			cp -L "$lib" "$root/usr/lib/x86_64-linux-gnu/"
		fi
	done
}

# wget_into DIR: GNU wget from Debian's package with the libraries it
# links. Not busybox's wget: Debian 12's busybox 1.35.0 (static and
# dynamic alike) dies with SIGSEGV in wget before it sends a request when
# it runs as a non-root user (on the host too).
wget_into() {
	local root=$1 tmp
	tmp=$(mktemp -d)
	dpkg-deb -x "$(deb wget)" "$tmp"
	mkdir -p "$root/usr/bin"
	cp "$tmp/usr/bin/wget" "$root/usr/bin/wget"
	libs_into "$root" "$tmp/usr/bin/wget"
	rm -rf "$tmp"
}

# redis_into DIR: redis-server and redis-cli from Debian's packages, with
# their shared libraries.
redis_into() {
	local root=$1 tmp
	tmp=$(mktemp -d)
	dpkg-deb -x "$(deb redis-tools)" "$tmp"
	mkdir -p "$root/usr/bin" "$root/etc/redis" "$root/data"
	# getent (glibc's): the chart's cluster-creating Job resolves the nodes'
	# names with it, as it can in the official image.
	dpkg-deb -x "$(deb libc-bin)" "$tmp"
	cp "$tmp/usr/bin/redis-check-rdb" "$tmp/usr/bin/redis-cli" "$tmp/usr/bin/getent" "$root/usr/bin/"
	# Debian's redis-server is this one binary under another name.
	ln -s redis-check-rdb "$root/usr/bin/redis-server"
	libs_into "$root" "$tmp/usr/bin/redis-check-rdb" "$tmp/usr/bin/redis-cli" "$tmp/usr/bin/getent"
	rm -rf "$tmp"
	echo 'redis:x:999:999:redis:/data:/sbin/nologin' >>"$root/etc/passwd"
	echo 'redis:x:999:' >>"$root/etc/group"
	chown 999:999 "$root/data"
}

# postgres_into DIR: Debian's PostgreSQL server and pg_isready/psql, their
# shared libraries, nss_wrapper (for a pod's arbitrary runAsUser, as the
# official image does) and an entrypoint that follows the official image's
# contract for what the chart and k8s/base use: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB and PGDATA initialise an empty data
# directory (scram-sha-256 over TCP), then postgres runs in the foreground.
postgres_into() {
	local root=$1 tmp v=$POSTGRES_MAJOR
	tmp=$(mktemp -d)
	dpkg-deb -x "$(deb "postgresql-$v")" "$tmp"
	dpkg-deb -x "$(deb "postgresql-client-$v")" "$tmp"
	dpkg-deb -x "$(deb libnss-wrapper)" "$tmp"
	mkdir -p "$root/usr/lib/postgresql/$v/bin" "$root/usr/share/postgresql" "$root/usr/local/bin" \
		"$root/var/lib/postgresql/data" "$root/var/run/postgresql"
	local b
	for b in postgres initdb pg_ctl pg_isready psql; do
		cp "$tmp/usr/lib/postgresql/$v/bin/$b" "$root/usr/lib/postgresql/$v/bin/"
		ln -s "../../lib/postgresql/$v/bin/$b" "$root/usr/local/bin/$b"
	done
	cp -a "$tmp/usr/lib/postgresql/$v/lib" "$root/usr/lib/postgresql/$v/lib"
	cp -a "$tmp/usr/share/postgresql/$v" "$root/usr/share/postgresql/$v"
	mkdir -p "$root/usr/lib/x86_64-linux-gnu"
	cp -L "$tmp/usr/lib/x86_64-linux-gnu/libnss_wrapper.so" "$root/usr/lib/x86_64-linux-gnu/"
	libs_into "$root" "$tmp/usr/lib/postgresql/$v/bin/postgres" "$tmp/usr/lib/postgresql/$v/bin/initdb" \
		"$tmp/usr/lib/postgresql/$v/bin/pg_isready" "$tmp/usr/lib/postgresql/$v/bin/psql" \
		"$tmp/usr/lib/postgresql/$v/lib/plpgsql.so"
	cp "$HERE/postgres-entrypoint" "$root/usr/local/bin/docker-entrypoint.sh"
	chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"
	rm -rf "$tmp"
	echo 'postgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh' >>"$root/etc/passwd"
	echo 'postgres:x:999:' >>"$root/etc/group"
	chown -R 999:999 "$root/var/lib/postgresql" "$root/var/run/postgresql"
	chmod 2777 "$root/var/run/postgresql"
}

# image NAME CHANGES... -- BUILDERS...: unless NAME exists with this recipe,
# runs each builder on an empty root, tars it (cached) and imports it.
image() {
	local name=$1
	shift
	local changes=()
	while [[ "$1" != "--" ]]; do
		changes+=(--change "$1")
		shift
	done
	shift
	local label="io.redlane.image-recipe=${RECIPE}"
	if "${PODMAN[@]}" image exists "$name" &&
		[[ "$("${PODMAN[@]}" image inspect --format '{{index .Labels "io.redlane.image-recipe"}}' "$name")" == "$RECIPE" ]]; then
		return 0
	fi
	local tar="$CACHE/rootfs/$(echo "$name" | tr '/:' '__')-${RECIPE}.tar"
	if [[ ! -f "$tar" ]]; then
		log "assembling $name"
		local root
		root=$(mktemp -d "$CACHE/rootfs/build.XXXXXX")
		local b
		for b in "$@"; do
			"$b" "$root"
		done
		tar --numeric-owner --sort=name --mtime=@0 -C "$root" -cf "$tar.tmp" .
		mv "$tar.tmp" "$tar"
		rm -rf "$root"
	fi
	log "importing $name"
	"${PODMAN[@]}" import -q "${changes[@]}" --change "LABEL $label" "$tar" "$name" >/dev/null
}

start=$SECONDS
image "$BUILDER_IMAGE" \
	"ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/bin:/usr/bin:/bin" "ENV GOPATH=/go" "ENV HOME=/root" \
	"ENV GOTOOLCHAIN=local" "WORKDIR /go" "CMD [\"/bin/sh\"]" \
	-- skeleton certs_into go_into busybox_bin
image "$STATIC_IMAGE" "USER 65532:65532" "WORKDIR /home/nonroot" \
	"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
	-- skeleton certs_into tzdata_into
image "$DEBUG_IMAGE" "USER 65532:65532" "WORKDIR /home/nonroot" \
	"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox" "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
	"ENTRYPOINT [\"/busybox/sh\"]" \
	-- skeleton certs_into tzdata_into busybox_debug
image "$REDIS_IMAGE" "USER 999:999" "WORKDIR /data" "ENV PATH=/usr/bin:/bin" \
	"CMD [\"redis-server\"]" \
	-- skeleton busybox_bin redis_into
image "$WGET_IMAGE" "USER 65532:65532" "ENV PATH=/usr/bin:/bin" "ENTRYPOINT [\"/usr/bin/wget\"]" \
	-- skeleton certs_into wget_into
image "$POSTGRES_IMAGE" "USER 999:999" "ENV PATH=/usr/local/bin:/usr/bin:/bin" "ENV PGDATA=/var/lib/postgresql/data" \
	"ENTRYPOINT [\"/usr/local/bin/docker-entrypoint.sh\"]" "CMD [\"postgres\"]" "STOPSIGNAL SIGINT" "EXPOSE 5432" \
	-- skeleton busybox_bin tzdata_into postgres_into
log "base images ready in $((SECONDS - start)) s"
names

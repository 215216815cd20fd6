#!/usr/bin/env bash
# Vendors swagger-ui-dist VERSION from the npm registry into ui/swagger-ui and
# prints the vendored{} fields for vendor.go (version, integrity, SHA-256 of
# each file). Only the files the /docs page needs are copied: the bundle, its
# stylesheet, an icon and the licences.
#   internal/docs/swagger-ui.sh 5.35.0
set -euo pipefail
version=${1:?usage: $0 VERSION}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
want=$(npm view "swagger-ui-dist@$version" dist.integrity)
npm pack --silent "swagger-ui-dist@$version" >/dev/null
got="sha512-$(openssl dgst -sha512 -binary "swagger-ui-dist-$version.tgz" | base64 -w0)"
[ "$got" = "$want" ] || { echo "integrity mismatch: registry says $want, tarball is $got" >&2; exit 1; }
tar xzf "swagger-ui-dist-$version.tgz"
dst="$here/ui/swagger-ui"
rm -rf "$dst" && mkdir -p "$dst"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
  cp "package/$f" "$dst/"
done
echo "Version:   \"$version\","
echo "Integrity: \"$want\","
(cd "$dst" && sha256sum * | awk '{printf "\t\t\"%s\": \"%s\",\n", $2, $1}')

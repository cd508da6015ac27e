#!/usr/bin/env bash
# Server parity: a plan against a `trivy server` built from the Go module
# proxy's source of Trivy v0.74.0 (bench/lib.sh builds it once into
# ~/.cache/imageguard-tools; the version the provider embeds) reports the
# same finding ids as `trivy image --server` for the same image. Real
# terraform, the built provider (dev_overrides), the fixture images and
# database of bench/scanvstrivy. Needs Go and terraform; no Docker, no
# internet beyond the Go module proxy (only to build trivy once).
#
#   bench/server_parity.sh [serverparity flags, e.g. -shared-server -keep]
#
# It runs TestServerParity (bench/serverparity, build tag bench). Exit
# status: 0 when both report the same ids everywhere, non-zero on a
# difference or an error.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ensure_trivy
build_provider

# Which Trivy is this? The module and version the binary was built from, and
# the module's checksum in the Go module proxy's source against the one this
# provider's go.sum pins.
echo "$TRIVY: $("$TRIVY" --version | head -1)"
go version -m "$TRIVY" | awk '$1=="path"||$1=="mod"||($1=="build"&&($2 ~ /^-ldflags/||$2 ~ /^GOEXPERIMENT/)){print "  " $0}'
dl=$(cd "${TMPDIR:-/tmp}" && GOFLAGS= GOWORK=off go mod download -json "$TRIVY_MODULE@$TRIVY_VERSION" 2>/dev/null || true)
sum=$(printf '%s' "$dl" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')
pinned=$(awk -v m="$TRIVY_MODULE" -v v="$TRIVY_VERSION" '$1==m && $2==v {print $3}' go.sum)
echo "  module source $TRIVY_MODULE@$TRIVY_VERSION from the Go module proxy: ${sum:-unknown}; this provider's go.sum: ${pinned:-none}"
if [ -n "$sum" ] && [ "$sum" != "$pinned" ]; then
	echo "the trivy module source differs from the one the provider embeds" >&2
	exit 2
fi
echo
cd bench/serverparity
exec nice -n 10 go test -v -tags bench -count=1 -timeout 0 -run '^TestServerParity$' . -args -trivy "$TRIVY" -plugin-dir "$BIN/provider" "$@"

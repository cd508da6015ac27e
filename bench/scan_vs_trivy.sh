#!/usr/bin/env bash
# Compares imageguard's scanner (Trivy v0.74.0 as a library) with the trivy
# CLI v0.74.0 on the fixture images: same findings, and wall time cold and
# warm on a bigger image. Needs only Go (and the Go module proxy the first
# time, to build trivy); no Docker, no internet beyond the proxy.
#
#   bench/scan_vs_trivy.sh [scanvstrivy flags, e.g. -reps 5 -bulk-mib 16 -keep]
#
# Exit status: 0 when both agree on every image, 1 on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOEXPERIMENT=jsonv2   # Trivy v0.74.0 needs it for every build
TRIVY_MODULE=github.com/aquasecurity/trivy
TRIVY_VERSION=v0.74.0
BIN=$PWD/bench/bin
mkdir -p "$BIN"

if [ ! -x "$BIN/trivy" ]; then
	echo "building the trivy CLI $TRIVY_VERSION into bench/bin/trivy (about 10 minutes on 2 cores the first time)" >&2
	if ! GOFLAGS=-mod=mod GOBIN=$BIN nice -n 10 go install "$TRIVY_MODULE/cmd/trivy@$TRIVY_VERSION"; then
		# `go install pkg@version` also asks the proxy for the module's
		# version list (to look for a deprecation notice); a proxy that
		# refuses that list (403) fails the install although the module
		# itself is served. Build the same module version with its own
		# go.mod instead: that is what `go install pkg@version` builds.
		echo "go install failed; building $TRIVY_MODULE@$TRIVY_VERSION from its module source instead" >&2
		# Outside this module, so that its go.mod and go.sum stay untouched.
		src=$(cd "${TMPDIR:-/tmp}" && GOFLAGS= GOWORK=off go mod download -json "$TRIVY_MODULE@$TRIVY_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		if [ -z "$src" ] || [ ! -d "$src/cmd/trivy" ]; then
			echo "cannot find the source of $TRIVY_MODULE@$TRIVY_VERSION in the module cache" >&2
			exit 2
		fi
		(cd "$src" && GOFLAGS=-buildvcs=false nice -n 10 go build -trimpath \
			-ldflags "-s -w -X $TRIVY_MODULE/pkg/version/app.ver=${TRIVY_VERSION#v}" \
			-o "$BIN/trivy" ./cmd/trivy)
	fi
fi

nice -n 10 go build -o "$BIN/scanvstrivy" ./bench/scanvstrivy
exec "$BIN/scanvstrivy" -trivy "$BIN/trivy" "$@"

# Shared by bench/fleet.sh and bench/server_parity.sh (sourced, not run).
# Builds what they need into bench/bin/ (ignored by git): the trivy CLI
# v0.74.0 (as bench/scan_vs_trivy.sh does) and the provider binary.

export GOEXPERIMENT=jsonv2   # Trivy v0.74.0 needs it for every build
TRIVY_MODULE=github.com/aquasecurity/trivy
TRIVY_VERSION=v0.74.0
BIN=$PWD/bench/bin
mkdir -p "$BIN"

# ensure_trivy builds bench/bin/trivy unless it exists: bench/scan_vs_trivy.sh
# knows how (go install, or the module source from the Go module proxy).
ensure_trivy() {
	if [ ! -x "$BIN/trivy" ]; then
		echo "no bench/bin/trivy: building it through bench/scan_vs_trivy.sh's recipe" >&2
		if ! GOFLAGS=-mod=mod GOBIN=$BIN nice -n 10 go install "$TRIVY_MODULE/cmd/trivy@$TRIVY_VERSION"; then
			src=$(cd "${TMPDIR:-/tmp}" && GOFLAGS= GOWORK=off go mod download -json "$TRIVY_MODULE@$TRIVY_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
			[ -n "$src" ] && [ -d "$src/cmd/trivy" ] || { echo "cannot find $TRIVY_MODULE@$TRIVY_VERSION in the module cache" >&2; exit 2; }
			(cd "$src" && GOFLAGS=-buildvcs=false nice -n 10 go build -trimpath \
				-ldflags "-s -w -X $TRIVY_MODULE/pkg/version/app.ver=${TRIVY_VERSION#v}" \
				-o "$BIN/trivy" ./cmd/trivy)
		fi
	fi
}

# build_provider builds the provider from this work tree into
# bench/bin/provider/, the dev_overrides directory.
build_provider() {
	mkdir -p "$BIN/provider"
	nice -n 10 go build -o "$BIN/provider/terraform-provider-imageguard" .
}

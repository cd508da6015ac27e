# Shared by the scripts under bench/ (sourced, not run). Builds what they
# need: the trivy CLI v0.74.0, once, into a cache outside the repository
# ($HOME/.cache/imageguard-tools/trivy-v0.74.0/bin/trivy, as scripts/tools.sh
# keeps terraform and tofu), and the provider binary into bench/bin/.

export GOEXPERIMENT=jsonv2   # Trivy v0.74.0 needs it for every build
TRIVY_MODULE=github.com/aquasecurity/trivy
TRIVY_VERSION=v0.74.0
BIN=$PWD/bench/bin
TOOLS_DIR=${IMAGEGUARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageguard-tools}
TRIVY=$TOOLS_DIR/trivy-$TRIVY_VERSION/bin/trivy
mkdir -p "$BIN"

# ensure_trivy builds $TRIVY unless it exists (about 10 minutes on 2 cores).
# `go install pkg@version` also asks the proxy for the module's version list
# (for a deprecation notice); a proxy that refuses that list (403) fails the
# install although it serves the module, so the fallback builds the same
# module version from its source with its own go.mod, which is what
# `go install pkg@version` builds. Outside this module, so that our go.mod
# and go.sum stay untouched.
ensure_trivy() {
	[ -x "$TRIVY" ] && return 0
	local dir tmp src
	dir=$(dirname "$TRIVY")
	mkdir -p "$TOOLS_DIR"
	tmp=$(mktemp -d "$TOOLS_DIR/.trivy-$TRIVY_VERSION.XXXXXX")
	echo "building the trivy CLI $TRIVY_VERSION into $TRIVY (about 10 minutes on 2 cores the first time)" >&2
	if ! (cd "$tmp" && GOFLAGS=-mod=mod GOBIN=$tmp nice -n 10 go install "$TRIVY_MODULE/cmd/trivy@$TRIVY_VERSION"); then
		echo "go install failed; building $TRIVY_MODULE@$TRIVY_VERSION from its module source instead" >&2
		src=$(cd "$tmp" && GOFLAGS= GOWORK=off go mod download -json "$TRIVY_MODULE@$TRIVY_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[ -n "$src" ] && [ -d "$src/cmd/trivy" ] || { echo "cannot find $TRIVY_MODULE@$TRIVY_VERSION in the module cache" >&2; exit 2; }
		(cd "$src" && GOFLAGS=-buildvcs=false nice -n 10 go build -trimpath \
			-ldflags "-s -w -X $TRIVY_MODULE/pkg/version/app.ver=${TRIVY_VERSION#v}" \
			-o "$tmp/trivy" ./cmd/trivy)
	fi
	mkdir -p "$dir"
	mv "$tmp/trivy" "$TRIVY"
	rm -rf "$tmp"
}

# build_provider builds the provider from this work tree into
# bench/bin/provider/, the dev_overrides directory.
build_provider() {
	mkdir -p "$BIN/provider"
	nice -n 10 go build -o "$BIN/provider/terraform-provider-imageguard" .
}

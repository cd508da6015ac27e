#!/usr/bin/env bash
# Interoperability with the real GitHub CLI: `gh attestation verify --bundle
# … --custom-trusted-root …` (v2.83.0, built once from the Go module proxy
# into ~/.cache/imageguard-tools/gh-v2.83.0, never a release download) and
# imageguard's provenance check judge the same bundles — in the referrer
# layout actions/attest-build-provenance pushes, signed by an in-process
# Fulcio with GitHub's OIDC extensions and logged in an in-process Rekor —
# and must agree on every accept and every refusal (one hostile case per
# field, each with its control). The table goes to stdout and to
# bench/testdata/gh_interop.md when REPORT=1.
#
#   bench/gh_interop.sh
#
# Not run in CI. Exit status 0 when gh and imageguard agree (or differ only
# where documented: imageguard's signer_workflow path matches whole).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOEXPERIMENT=jsonv2

GH_MODULE=github.com/cli/cli/v2
GH_VERSION=v2.83.0
TOOLS_DIR=${IMAGEGUARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageguard-tools}
GH=$TOOLS_DIR/gh-$GH_VERSION/bin/gh

# ensure_gh builds gh unless it exists (a few minutes on 2 cores), from the
# module's own source and go.mod, as bench/lib.sh builds trivy.
ensure_gh() {
	[ -x "$GH" ] && return 0
	local tmp src
	mkdir -p "$TOOLS_DIR"
	tmp=$(mktemp -d "$TOOLS_DIR/.gh-$GH_VERSION.XXXXXX")
	echo "building gh $GH_VERSION into $GH (a few minutes on 2 cores the first time)" >&2
	src=$(cd "$tmp" && GOFLAGS= GOWORK=off go mod download -json "$GH_MODULE@$GH_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$src" ] && [ -d "$src/cmd/gh" ] || { echo "cannot find $GH_MODULE@$GH_VERSION in the module cache" >&2; exit 2; }
	(cd "$src" && GOFLAGS=-buildvcs=false GOWORK=off nice -n 10 go build -trimpath \
		-ldflags "-s -w -X $GH_MODULE/internal/build.Version=${GH_VERSION#v}" -o "$tmp/gh" ./cmd/gh)
	mkdir -p "$(dirname "$GH")"
	mv "$tmp/gh" "$GH"
	rm -rf "$tmp"
}

ensure_gh
"$GH" --version | head -1
report=$(mktemp)
status=0
GH_BIN=$GH GH_INTEROP_REPORT=$report nice -n 10 go test -count=1 -run TestGHInterop ./bench/ghinterop/ >&2 || status=$?
cat "$report"
if [ "${REPORT:-}" = 1 ]; then
	mkdir -p bench/testdata
	{ echo "# gh attestation verify vs imageguard ($("$GH" --version | head -1))"; echo; cat "$report"; } > bench/testdata/gh_interop.md
fi
rm -f "$report"
exit $status

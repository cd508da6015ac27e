#!/usr/bin/env bash
# imageguard_attestation against the cosign CLI v3.1.3 (bench/attestinterop,
# a `//go:build bench` test on the internal/acctest harness):
# on Debian's docker-registry (no referrers API) and on the in-process
# registry, the attestations the resource makes verify with `cosign
# verify-attestation --type vuln` (and the verdict type) and with
# imageguard_verify; an edited predicate, another key and an attestation
# copied to another digest fail in both; then time and registry requests to
# attest one image: `cosign attest`, imageguard's library path, and
# `terraform apply` of the resource.
#
#   bench/attest_interop.sh [-n 5]
#
# Needs Go, terraform (PATH or TF_ACC_TERRAFORM_PATH), docker-registry
# (apt-get install docker-registry) and, once, the Go module proxy to build
# cosign into bench/bin/cosign. No internet otherwise. Exit status 0 when
# every expected verification passes and every tamper case fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

COSIGN_MODULE=github.com/sigstore/cosign/v3
COSIGN_VERSION=v3.1.3
if [ ! -x "$BIN/cosign" ]; then
	echo "building the cosign CLI $COSIGN_VERSION into bench/bin/cosign (10+ minutes on 2 cores the first time)" >&2
	(cd "$(mktemp -d)" && GOFLAGS=-mod=mod GOBIN=$BIN nice -n 10 go install "$COSIGN_MODULE/cmd/cosign@$COSIGN_VERSION")
fi
build_provider
cd bench/attestinterop
exec nice -n 10 go test -v -tags bench -count=1 -timeout 0 -run '^TestAttestInterop$' . -args \
	-cosign "$BIN/cosign" -plugin-dir "$BIN/provider" "$@"

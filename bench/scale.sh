#!/usr/bin/env bash
# The fleet-scale benchmark (issue 15): the built provider under the real
# terraform CLI, one imageguard_policy with a scan block over N images that
# share a Debian base (700 packages) and each add an app layer, against a
# synthetic trivy.db the size of the public one (generated once into
# ~/.cache/imageguard-bench), side by side with the trivy CLI v0.74.0 over
# the same images. Reports the provider's peak RSS (VmHWM), cold, warm and
# pins-only plan times at each N, and checks the issue's targets.
#
#   bench/scale.sh [scale flags, e.g. -n 20,100 -reps 5 -provider-env GOGC=50]
#
# Needs Go and terraform (PATH or TF_ACC_TERRAFORM_PATH); the Go module
# proxy once, to build trivy. No Docker, no internet. Run it on a quiet
# machine: it prints the load average with every measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ensure_trivy
build_provider
cd bench/scale
exec go test -v -tags bench -count=1 -timeout 0 -run '^TestScale$' . -args \
	-provider-dir "$BIN/provider" -trivy "$TRIVY" "$@"

#!/usr/bin/env bash
# Compares imageguard's scanner (Trivy v0.74.0 as a library) with the trivy
# CLI v0.74.0 on imageguard's fixture images and on Trivy's own test images
# (pkg/fanal/test/testdata, with a database from Trivy's integration
# fixtures): same findings, and wall time cold and warm on a bigger image. Needs only Go (and the Go module proxy the first
# time, to build trivy: bench/lib.sh); no Docker, no internet beyond the
# proxy.
#
#   bench/scan_vs_trivy.sh [scanvstrivy flags, e.g. -reps 5 -bulk-mib 16 -keep -verbose]
#
# It runs TestScanVsTrivy and TestScanVsTrivyOnTrivyTestdata
# (bench/scanvstrivy, build tag bench). Exit status:
# 0 when both agree on every image, non-zero on a difference or an error.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ensure_trivy
cd bench/scanvstrivy
exec nice -n 10 go test -v -tags bench -count=1 -timeout 0 -run '^TestScanVsTrivy(OnTrivyTestdata)?$' . -args -trivy "$TRIVY" "$@"

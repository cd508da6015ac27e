#!/usr/bin/env bash
# The fleet benchmark of docs/guides/scanning-at-scale.md: 10 images (some
# sharing base layers), 4 worker processes in parallel, each a real
# `terraform plan` with the built provider and an empty cache_dir, local mode
# versus server mode (`trivy server` v0.74.0, built once by bench/lib.sh). Reports per
# worker the wall time, database and layer bytes downloaded, layer GETs, and
# fleet-wide how often each distinct layer was fetched.
#
#   bench/fleet.sh [fleet flags, e.g. -variants parallel:0s,staggered:5s -keep -registry inprocess]
#
# Needs Go, terraform (PATH or TF_ACC_TERRAFORM_PATH) and docker-registry
# (apt-get install docker-registry; or -registry inprocess). No internet.
# It runs TestFleet (bench/fleet, build tag bench). Exit status: 0 when
# server mode meets the target (no database bytes on any worker, each
# distinct layer fetched at most once fleet-wide) in every variant,
# non-zero when it does not or on an error.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ensure_trivy
build_provider
cd bench/fleet
exec nice -n 10 go test -v -tags bench -count=1 -timeout 0 -run '^TestFleet$' . -args -trivy "$TRIVY" -plugin-dir "$BIN/provider" "$@"

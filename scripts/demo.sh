#!/usr/bin/env bash
# make demo: build the provider, start a loopback registry with demo images
# built in Go, and run `terraform plan` on examples/demo with a dev override.
# Needs only Go and terraform (or tofu: TF=tofu make demo, or the tests' switch
# TF_ACC_TERRAFORM_PATH=/path/to/tofu); cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOEXPERIMENT=jsonv2 CHECKPOINT_DISABLE=1
TF="${TF:-${TF_ACC_TERRAFORM_PATH:-terraform}}"

work="$(mktemp -d)"
registry_pid=""
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> building the provider"
go build -o "$work/bin/terraform-provider-imageguard" .
go build -o "$work/demoregistry" ./internal/demoregistry

echo "==> starting the demo registry on loopback"
mkdir -p "$work/trust"
"$work/demoregistry" -addr-file "$work/addr" -trust-dir "$work/trust" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
[ -s "$work/addr" ] || { cat "$work/registry.log"; echo "demo registry did not start"; exit 1; }
addr="$(cat "$work/addr")"
echo "    $addr"

cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "imageguard/imageguard" = "$work/bin"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc"
export DOCKER_CONFIG="$work/docker" # no credentials needed for the demo registry

cp -r examples/demo "$work/demo"
quiet() { grep -v -e "^ *$" -e "^configuration:$" -e "The following provider" -e "dev_overrides" -e "development overrides" -e "imageguard/imageguard in" -e "may therefore not match" -e "applying changes may" -e "releases\.$" -e "^╷" -e "^╵" -e "^│ *$" -e "^│ *Warning: Provider development" || true; }

echo "==> $TF plan (examples/demo): pin two images; scan, verify and police the patched one"
"$TF" -chdir="$work/demo" plan -input=false -no-color -var "registry=$addr" -var "cache_dir=$work/cache" -var "trust_dir=$work/trust" 2>&1 | quiet

echo
echo "==> $TF plan (examples/guides/ci-workers) as an agent with the database baked in: IMAGEGUARD_CACHE_DIR, skip_update, no download"
cp -r examples/guides/ci-workers "$work/ci-workers"
IMAGEGUARD_CACHE_DIR="$work/cache" "$TF" -chdir="$work/ci-workers" plan -input=false -no-color -var "image=$addr/demo/payments:2.0" \
  -var "trivy_db_repositories=[\"$addr/aquasecurity/trivy-db:2\"]" -var db_baked_in=true 2>&1 | quiet

echo
echo "==> $TF plan with a vulnerable, unsigned image: the plan fails before anything is provisioned"
if "$TF" -chdir="$work/demo" plan -input=false -no-color -var "registry=$addr" -var "cache_dir=$work/cache" -var "trust_dir=$work/trust" -var include_failing=true >"$work/failing.log" 2>&1; then
  cat "$work/failing.log"; echo "expected the plan to fail"; exit 1
fi
quiet <"$work/failing.log"
echo
echo "==> demo done: the failing plan above is the gate working"

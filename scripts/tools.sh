#!/usr/bin/env bash
# CLIs for the test matrix, built from the Go module proxy (never a release
# download) into a cache outside the repository, keyed by name and version,
# and reused when present:
#
#   scripts/tools.sh terraform 1.8.5   # builds if needed, prints the binary's path
#   scripts/tools.sh tofu 1.10.6
#   scripts/tools.sh path tofu 1.8.8   # prints the path only (no build)
#
# Cache: $IMAGEGUARD_TOOLS_DIR, default ${XDG_CACHE_HOME:-~/.cache}/imageguard-tools,
# as <name>-<version>/bin/<name>. Progress goes to stderr; stdout is the path.
#
# The CLIs are built as their releases are: CGO off, -trimpath, the version
# package's dev marker off (else `terraform version` says "1.8.5-dev"), and
# without GOEXPERIMENT (our own module needs jsonv2 for Trivy; the CLIs do not).
set -euo pipefail

tools_dir="${IMAGEGUARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageguard-tools}"

# tool_path NAME VERSION: where the binary lives (whether built or not).
tool_path() {
  echo "$tools_dir/$1-$2/bin/$1"
}

# go_clean_env runs go without our module's settings.
go_clean_env() {
  env -u GOEXPERIMENT -u GOFLAGS CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local go "$@"
}

# Nested modules that Terraform's go.mod (1.9 on) requires and replaces with
# directories the module zip does not hold, so the proxy cannot serve them:
# its remote-state backends and internal/legacy (which only they import).
terraform_nested="azure consul cos gcs kubernetes oci oss pg s3"

# build_terraform VERSION: Terraform up to 1.8 has no replace directives, so
# `go install mod@version` works. From 1.9 on its go.mod replaces the nested
# modules above with local paths, which `go install` refuses and no module
# that requires Terraform can build; so copy the module source, drop those
# requires and replaces and the backends' registrations (a test CLI needs
# only the local backend), and build it as the main module.
build_terraform() {
  local version="$1" out tmp dir
  out="$(tool_path terraform "$version")"
  tmp="$(mktemp -d "$tools_dir/.terraform-$version.XXXXXX")"
  echo "building terraform $version from the Go module proxy (a few minutes cold)" >&2
  local ldflags="-s -w -X github.com/hashicorp/terraform/version.dev=no"
  dir="$(cd "$tmp" && go_clean_env mod download -json "github.com/hashicorp/terraform@v$version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$dir/go.mod" ] || { echo "no module source for terraform v$version" >&2; exit 1; }
  if ! grep -q '^replace[[:space:]].*=>[[:space:]]*\./' "$dir/go.mod"; then
    (cd "$tmp" && GOBIN="$tmp" go_clean_env install -trimpath -ldflags "$ldflags" \
      "github.com/hashicorp/terraform@v$version") >&2
  else
    cp -R "$dir" "$tmp/src"
    chmod -R u+w "$tmp/src"
    (
      cd "$tmp/src"
      local b edits=(-dropreplace=github.com/hashicorp/terraform/internal/legacy
        -droprequire=github.com/hashicorp/terraform/internal/legacy)
      for b in $terraform_nested; do
        edits+=(-dropreplace="github.com/hashicorp/terraform/internal/backend/remote-state/$b"
          -droprequire="github.com/hashicorp/terraform/internal/backend/remote-state/$b")
        # the import line and the map entry of each nested backend
        sed -i "/internal\/backend\/remote-state\/$b\"\$/d" internal/backend/init/init.go
      done
      sed -i -E '/^[[:space:]]*"[a-z0-9]+":[[:space:]]+func\(\) backend\.Backend \{ return backend(Azure|Consul|Cos|GCS|Kubernetes|OCI|OSS|Pg|S3)\.New\(\) \},$/d' \
        internal/backend/init/init.go
      go_clean_env mod edit "${edits[@]}"
      if grep -Eq 'remote-state/(azure|consul|cos|gcs|kubernetes|oci|oss|pg|s3)|backend(Azure|Consul|Cos|GCS|Kubernetes|OCI|OSS|Pg|S3)\.' \
        go.mod internal/backend/init/init.go; then
        echo "terraform v$version: could not remove the nested backends (go.mod or init.go changed shape)" >&2
        exit 1
      fi
      go_clean_env build -trimpath -ldflags "$ldflags" -o "$tmp/terraform" .
    ) >&2
  fi
  mkdir -p "$(dirname "$out")"
  mv "$tmp/terraform" "$out"
  rm -rf "$tmp"
}

# build_tofu VERSION: OpenTofu's go.mod replaces hashicorp/hcl/v2 with its
# fork, so `go install mod@version` refuses it; build from a throwaway module
# that requires OpenTofu at VERSION and repeats that replace.
build_tofu() {
  local version="$1" out tmp gomod replace
  out="$(tool_path tofu "$version")"
  tmp="$(mktemp -d "$tools_dir/.tofu-$version.XXXXXX")"
  echo "building tofu $version from the Go module proxy (a few minutes cold)" >&2
  gomod="$(cd "$tmp" && go_clean_env mod download -json "github.com/opentofu/opentofu@v$version" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$gomod" ] || { echo "no go.mod for opentofu v$version" >&2; exit 1; }
  # e.g. replace github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.2025...
  replace="$(sed -n 's/^replace[[:space:]]\{1,\}\(github\.com\/hashicorp\/hcl\/v2.*=>.*\)$/\1/p' "$gomod")"
  [ -n "$replace" ] || { echo "opentofu v$version: no hashicorp/hcl/v2 replace in $gomod" >&2; exit 1; }
  (
    cd "$tmp"
    go_clean_env mod init imageguard-tools/tofu >/dev/null 2>&1
    # "a v1 => b v2" -> -replace=a@v1=b@v2
    read -r old oldv _ new newv <<<"$replace"
    go_clean_env mod edit -require="github.com/opentofu/opentofu@v$version" -replace="$old@$oldv=$new@$newv"
    go_clean_env get "github.com/opentofu/opentofu/cmd/tofu@v$version"
    go_clean_env build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
      -o "$tmp/tofu" github.com/opentofu/opentofu/cmd/tofu
  ) >&2
  mkdir -p "$(dirname "$out")"
  mv "$tmp/tofu" "$out"
  rm -rf "$tmp"
}

# ensure NAME VERSION: build unless present, print the path.
ensure() {
  local name="$1" version="${2#v}" out
  out="$(tool_path "$name" "$version")"
  if [ ! -x "$out" ]; then
    mkdir -p "$tools_dir"
    case "$name" in
      terraform) build_terraform "$version" ;;
      tofu) build_tofu "$version" ;;
      *) echo "unknown tool $name (terraform or tofu)" >&2; exit 2 ;;
    esac
  fi
  echo "$out"
}

usage() {
  echo "usage: $0 terraform|tofu VERSION   build if needed, print the path" >&2
  echo "       $0 path terraform|tofu VERSION   print the path only" >&2
  exit 2
}

case "${1:-}" in
  terraform | tofu) [ $# -eq 2 ] || usage; ensure "$1" "$2" ;;
  path) [ $# -eq 3 ] || usage; tool_path "$2" "${3#v}" ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# Interoperability with the real notation CLI v1.3.2: notation signs test
# images on Debian's docker-registry (distribution 2.8: no referrers API, so
# the signatures go under the sha256-<digest> referrers tag), with a
# `notation cert generate-test` key and with certificates from a CA chain of
# our own; then `notation verify` and the provider built from this tree
# (terraform plan of one imageguard_verify with a notation authority, under
# the same trust policy) judge each case, and must agree:
#
#   signed, trusted (test key, JWS)            both pass
#   signed, trusted (own CA chain, COSE)       both pass
#   signed by another CA                       both refuse
#   signed by a trusted CA, wrong identity     both refuse
#   signed with a certificate since expired    both refuse
#   tampered: a signature copied from another image      both refuse
#   unsigned                                   both refuse
#
#   bench/notation_interop.sh            # one run
#   KEEP=1 bench/notation_interop.sh     # keep the work directory
#
# Needs Go, terraform on PATH (or TF_ACC_TERRAFORM_PATH) and docker-registry
# (apt-get install docker-registry); the Go module proxy once, to build the
# notation CLI into $HOME/.cache/imageguard-tools/notation-v1.3.2 (never a
# release download). Not run in CI. Exit status: 0 when both agree on every
# case and every case comes out as expected, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

export GOEXPERIMENT=jsonv2   # the module (Trivy v0.74.0) needs it for every build
NOTATION_MODULE=github.com/notaryproject/notation
NOTATION_VERSION=v1.3.2
TOOLS_DIR=${IMAGEGUARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageguard-tools}
NOTATION=$TOOLS_DIR/notation-$NOTATION_VERSION/bin/notation

# --- 1. the notation CLI, built once ------------------------------------------
# Built from its module source with its own go.mod (outside this module, so
# that our go.mod stays untouched), as bench/lib.sh builds trivy.
if [ ! -x "$NOTATION" ]; then
	echo "building the notation CLI $NOTATION_VERSION into $NOTATION (a minute or two on 2 cores)" >&2
	src=$(cd "${TMPDIR:-/tmp}" && GOFLAGS= GOWORK=off go mod download -json "$NOTATION_MODULE@$NOTATION_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$src" ] && [ -d "$src/cmd/notation" ] || { echo "cannot find $NOTATION_MODULE@$NOTATION_VERSION in the module cache" >&2; exit 2; }
	mkdir -p "$(dirname "$NOTATION")"
	(cd "$src" && GOEXPERIMENT= GOFLAGS=-buildvcs=false nice -n 10 go build -trimpath \
		-ldflags "-s -w -X $NOTATION_MODULE/internal/version.Version=$NOTATION_VERSION" -o "$NOTATION.tmp" ./cmd/notation)
	mv "$NOTATION.tmp" "$NOTATION"
fi

TF=${TF_ACC_TERRAFORM_PATH:-$(command -v terraform || true)}
[ -n "$TF" ] || { echo "no terraform on PATH (or TF_ACC_TERRAFORM_PATH)" >&2; exit 2; }
REGBIN=$(command -v docker-registry || echo /usr/bin/docker-registry)
[ -x "$REGBIN" ] || { echo "no docker-registry: apt-get install docker-registry" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/notation-interop.XXXXXX")
REGPID=
cleanup() {
	if [ -n "$REGPID" ]; then
		kill "$REGPID" 2>/dev/null || true
		wait "$REGPID" 2>/dev/null || true
	fi
	if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "== building the provider and bench/notationinterop" >&2
mkdir -p "$WORK/bin"
nice -n 10 go build -o "$WORK/bin/terraform-provider-imageguard" .
nice -n 10 go build -o "$WORK/notationinterop" ./bench/notationinterop
HELPER=$WORK/notationinterop

# --- 2. Debian's docker-registry on loopback ---------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 5056)
HOST=127.0.0.1:$PORT
mkdir -p "$WORK/storage"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: "$WORK/storage"
  delete:
    enabled: true
http:
  addr: "$HOST"
  secret: "notation-interop-bench-secret"
EOF
"$REGBIN" serve "$WORK/registry.yml" >"$WORK/access.log" 2>"$WORK/registry.log" &
REGPID=$!
for _ in $(seq 1 300); do
	curl -fsS "http://$HOST/v2/" >/dev/null 2>&1 && break
	kill -0 "$REGPID" 2>/dev/null || { cat "$WORK/registry.log" >&2; exit 2; }
	sleep 0.1
done
curl -fsS "http://$HOST/v2/" >/dev/null
echo "docker-registry $("$REGBIN" --version 2>&1 | awk '{print $NF}') on $HOST; referrers API: $(curl -s -o /dev/null -w '%{http_code}' "http://$HOST/v2/x/referrers/sha256:$(printf '0%.0s' $(seq 64))")"
echo "notation: $("$NOTATION" version | awk '/^Version/{print $2}')"

# --- 3. keys, trust store and trust policy, in a private notation config ------
export XDG_CONFIG_HOME=$WORK/config HOME=$WORK/home
mkdir -p "$XDG_CONFIG_HOME/notation" "$HOME" "$WORK/certs"
"$HELPER" certs -dir "$WORK/certs" -short 10s
CERTS=$WORK/certs
"$NOTATION" cert generate-test "acme-test" >/dev/null
TESTCERT=$(find "$XDG_CONFIG_HOME/notation/localkeys" -name 'acme-test.crt')
TESTKEY=$(find "$XDG_CONFIG_HOME/notation/localkeys" -name 'acme-test.key')
cat >"$XDG_CONFIG_HOME/notation/signingkeys.json" <<EOF
{"default": "release", "keys": [
  {"name": "acme-test", "keyPath": "$TESTKEY", "certPath": "$TESTCERT"},
  {"name": "release", "keyPath": "$CERTS/release.key", "certPath": "$CERTS/release.crt"},
  {"name": "intern", "keyPath": "$CERTS/intern.key", "certPath": "$CERTS/intern.crt"},
  {"name": "short", "keyPath": "$CERTS/short.key", "certPath": "$CERTS/short.crt"},
  {"name": "evil-release", "keyPath": "$CERTS/evil-release.key", "certPath": "$CERTS/evil-release.crt"}
]}
EOF
"$NOTATION" cert add --type ca --store acme "$CERTS/acme-root.pem" >/dev/null
TEST_SUBJECT=$(openssl x509 -in "$TESTCERT" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
TEST_ID="x509.subject: $TEST_SUBJECT"
RELEASE_ID="x509.subject: C=US, ST=WA, O=acme, CN=release"
# The test key's images are judged under its own trust store; every other
# image under the acme CA with the release identity. Level strict, as the
# provider's notation authority (revocation enforce; these certificates
# name no OCSP or CRL server).
cat >"$WORK/trustpolicy.json" <<EOF
{"version": "1.0", "trustPolicies": [
  {"name": "test-key", "registryScopes": ["$HOST/team/test-key"], "signatureVerification": {"level": "strict"},
   "trustStores": ["ca:acme-test"], "trustedIdentities": ["$TEST_ID"]},
  {"name": "acme", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
   "trustStores": ["ca:acme"], "trustedIdentities": ["$RELEASE_ID"]}
]}
EOF
"$NOTATION" policy import --force "$WORK/trustpolicy.json" >/dev/null

# --- 4. images and signatures by the notation CLI ------------------------------
push() { "$HELPER" push -ref "$HOST/$1" -seed "$1"; }
sign() { # key format ref
	"$NOTATION" sign --insecure-registry --key "$1" --signature-format "$2" "$3" >/dev/null
}
declare -A DIGEST
for c in test-key own-ca other-ca wrong-id expired tampered unsigned; do
	DIGEST[$c]=$(push "team/$c:1")
done
TAMPER_SOURCE=$(push "team/tampered:source")
sign short jws "$HOST/team/expired@${DIGEST[expired]}"   # first: its certificate lives 10 s
SHORT_NOT_AFTER=$(openssl x509 -in "$CERTS/short.crt" -noout -enddate | sed 's/^notAfter=//')
sign acme-test jws "$HOST/team/test-key@${DIGEST[test-key]}"
sign release cose "$HOST/team/own-ca@${DIGEST[own-ca]}"
sign evil-release jws "$HOST/team/other-ca@${DIGEST[other-ca]}"
sign intern cose "$HOST/team/wrong-id@${DIGEST[wrong-id]}"
sign release jws "$HOST/team/tampered@$TAMPER_SOURCE"
"$HELPER" copy-sig -repo "$HOST/team/tampered" -from "$TAMPER_SOURCE" -to "${DIGEST[tampered]}" | sed 's/^/  /'
echo "signed with notation $NOTATION_VERSION; tags on the registry for team/own-ca: $(curl -s "http://$HOST/v2/team/own-ca/tags/list")"
# The expired case is judged once its certificate has expired.
until [ "$(date -u +%s)" -gt "$(( $(date -u -d "$SHORT_NOT_AFTER" +%s) + 1 ))" ]; do sleep 0.5; done

# --- 5. the provider through the real terraform ------------------------------
cat >"$WORK/terraformrc" <<EOF
provider_installation {
  dev_overrides {
    "imageguard/imageguard" = "$WORK/bin"
  }
  direct {}
}
EOF
tf_env=(env -u TF_LOG -u TF_LOG_PATH TF_CLI_CONFIG_FILE="$WORK/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
	IMAGEGUARD_CACHE_DIR="$WORK/cache")
mkdir -p "$WORK/ws"
cat >"$WORK/ws/main.tf" <<'EOF'
terraform {
  required_providers {
    imageguard = { source = "imageguard/imageguard" }
  }
}
variable "image" { type = string }
variable "certificates_pem" { type = string }
variable "identity" { type = string }
provider "imageguard" {}
data "imageguard_verify" "app" {
  image = var.image
  authority {
    name = "release"
    notation {
      certificates_pem   = var.certificates_pem
      trust_store_type   = "ca"
      trusted_identities = [var.identity]
      revocation         = "enforce"
    }
  }
}
output "notation_signatures" { value = data.imageguard_verify.app.notation_signatures }
EOF

FAILED=0
ROWS=()
judge() { # case expect(pass|refuse) anchors identity
	local c=$1 want=$2 anchors=$3 id=$4 ref="$HOST/team/$1@${DIGEST[$1]}" n_out ig_out n ig why_n why_ig
	if n_out=$("$NOTATION" verify --verbose --insecure-registry "$ref" 2>&1); then n=pass; else n=refuse; fi
	if ig_out=$(cd "$WORK/ws" && "${tf_env[@]}" "$TF" plan -input=false -no-color -var "image=$ref" -var "certificates_pem=$(cat "$anchors")" -var "identity=$id" 2>&1); then
		ig=pass
	else
		ig=refuse
	fi
	# the check that failed, as each tells it (notation logs it with --verbose)
	why_n=$( { grep -m1 -oE 'failed verification with error: .*' <<<"$n_out" || grep -m1 -iE 'error|successfully verified' <<<"$n_out"; } | sed -E 's/^Error: //' | cut -c1-200)
	why_ig=$( { sed -E 's/^│ ?//' <<<"$ig_out" | tr '\n' ' ' | grep -oE 'authority "release" did not verify: [^(]*' || echo "(no reason found)"; } | head -1 | tr -s ' ' | cut -c1-200)
	[ "$ig" = pass ] && why_ig=$(sed -E 's/^│ ?//' <<<"$ig_out" | grep -m1 -oE 'subject *= *"[^"]*"' || echo "passed")
	local verdict=ok
	if [ "$n" != "$ig" ] || [ "$n" != "$want" ]; then verdict=MISMATCH; FAILED=1; fi
	ROWS+=("$(printf '%-9s %-10s %-8s %-8s %-8s' "$verdict" "$c" "$want" "$n" "$ig")")
	echo "-- $c ($ref): expected $want; notation verify: $n; imageguard: $ig ($verdict)"
	echo "   notation:   $why_n"
	echo "   imageguard: $why_ig"
}
echo "== notation verify and imageguard (terraform $("${tf_env[@]}" "$TF" version | head -1 | awk '{print $2}'), data \"imageguard_verify\" with a notation authority) on each case"
judge test-key pass   "$TESTCERT" "$TEST_ID"
judge own-ca   pass   "$CERTS/acme-root.pem" "$RELEASE_ID"
judge other-ca refuse "$CERTS/acme-root.pem" "$RELEASE_ID"
judge wrong-id refuse "$CERTS/acme-root.pem" "$RELEASE_ID"
judge expired  refuse "$CERTS/acme-root.pem" "$RELEASE_ID"
judge tampered refuse "$CERTS/acme-root.pem" "$RELEASE_ID"
judge unsigned refuse "$CERTS/acme-root.pem" "$RELEASE_ID"

echo
echo "== result"
printf '%-9s %-10s %-8s %-8s %-8s\n' agree case expected notation imageguard
printf '%s\n' "${ROWS[@]}"
if [ "$FAILED" != 0 ]; then
	echo "RESULT: FAILED (see MISMATCH rows)"
	exit 1
fi
echo "RESULT: notation verify and imageguard agree on every case, as expected"

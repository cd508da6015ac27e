package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// attestationStateV0Template is an imageguard_attestation resource as the
// predecessor release (schema version 0, commit 4608f1c) wrote it into
// terraform.tfstate, with this run's values left as placeholders.
// testdata/README.md says how it was captured;
// TestCaptureAttestationStatePredecessor captures it again.
const attestationStateV0Template = "testdata/attestation-state-v0.json"

// currentAttestationSchemaVersion is imageguard_attestation's state version
// in this release (internal/provider attestationSchemaVersion; e2e drives
// the built binary only).
const currentAttestationSchemaVersion = 1

// Placeholders of the attestation template beside the pin template's.
const (
	phDigestHex     = "{{DIGEST_HEX}}"
	phSignedAt      = "{{SIGNED_AT}}"
	phAttestation0  = "{{ATTESTATION_DIGEST_0}}"
	phAttestation1  = "{{ATTESTATION_DIGEST_1}}"
	phPrivateKeyPEM = "{{PRIVATE_KEY_PEM}}"
)

// attestUpgradeRes is the resource's address in attestationUpgradeConfig.
const attestUpgradeRes = "imageguard_attestation.app"

// attestationUpgradeConfig is the configuration applied with the
// predecessor and planned with this release: the pin upgrade's image and
// database, a scan block with an ignore, a policy block, a key given as
// private_key_pem (kept in state, marked sensitive), no transparency log
// (there is no Rekor offline) and a renewal age. max_layers is a variable
// for the control, which changes a signed setting.
const attestationUpgradeConfig = `terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "image" {
  type = string
}

variable "db_repository" {
  type = string
}

variable "cache_dir" {
  type = string
}

variable "signing_key" {
  type      = string
  sensitive = true
}

variable "max_layers" {
  type    = number
  default = 10
}

provider "imageguard" {
  vulnerability_db {
    repositories = [var.db_repository]
    cache_dir    = var.cache_dir
  }
}

resource "imageguard_attestation" "app" {
  image       = var.image
  tlog_upload = false
  renew_after = "720h"

  scan {
    severity_threshold = "HIGH"
    ignore {
      id     = "CVE-2023-45853"
      reason = "minizip is not built into the image's zlib"
    }
  }

  policy {
    require_non_root = true
    forbidden_ports  = ["22"]
    max_layers       = var.max_layers
  }

  key {
    private_key_pem = var.signing_key
  }
}
`

// attestWorkspace is a workspace holding attestationUpgradeConfig.
func (e *env) attestWorkspace(t *testing.T) *workspace {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(attestationUpgradeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return &workspace{t: t, e: e, dir: dir}
}

// attestRef is the digest-pinned image the attestation signs.
func (f *pinUpgradeFixture) attestRef() string {
	return f.reg.Host + "/team/api@" + f.digest.String()
}

// attestVars are the -var flags of attestationUpgradeConfig (the key goes
// in through TF_VAR_signing_key); each call has its own cache directory.
func (f *pinUpgradeFixture) attestVars(t *testing.T, extra ...string) []string {
	return varFlags(append([]string{"image=" + f.attestRef(), "db_repository=" + f.reg.Host + "/aquasecurity/trivy-db:2", "cache_dir=" + t.TempDir()}, extra...))
}

// newSigningKeyPEM is a fresh ECDSA P-256 key as unencrypted PKCS #8 PEM.
func newSigningKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// jsonText is s as it appears inside a JSON string.
func jsonText(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[1 : len(b)-1])
}

// attestation is imageguard_attestation.app from `terraform show -json`.
type attestation struct {
	SchemaVersion int            `json:"schema_version"`
	Values        map[string]any `json:"values"`
}

// stringsOf is a JSON list of strings.
func stringsOf(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func (w *workspace) showAttestation() attestation {
	w.t.Helper()
	r := w.mustTerraform(nil, "show", "-no-color", "-json")
	var shown struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address string `json:"address"`
					attestation
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		w.t.Fatalf("terraform show -json: %v\n%s", err, r.stdout)
	}
	for _, res := range shown.Values.RootModule.Resources {
		if res.Address == attestUpgradeRes {
			return res.attestation
		}
	}
	w.t.Fatalf("terraform show -json has no %s:\n%s", attestUpgradeRes, r.stdout)
	return attestation{}
}

// signedAttestations is what a signing run left in the registry, for the
// template's placeholders: the referrer manifests and when they were signed.
type signedAttestations struct {
	digests  []string
	signedAt string
}

// writeAttestationV0State writes terraform.tfstate into the workspace: the
// template's resource, its placeholders filled with this run's values, in
// a state document of this CLI's version with a fresh lineage.
func (w *workspace) writeAttestationV0State(f *pinUpgradeFixture, key string, signed signedAttestations) {
	w.t.Helper()
	tmpl, err := os.ReadFile(attestationStateV0Template)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(signed.digests) != 2 {
		w.t.Fatalf("want two attestation digests to fill in, got %q", signed.digests)
	}
	filled := strings.NewReplacer(
		phProviderHost, w.e.providerHost(),
		phRegistry, f.reg.Host,
		phDigest, f.digest.String(),
		phDigestHex, f.digest.Hex,
		phDBVersion, f.dbVersion(),
		phSignedAt, signed.signedAt,
		phAttestation0, signed.digests[0],
		phAttestation1, signed.digests[1],
		phPrivateKeyPEM, jsonText(w.t, key),
	).Replace(string(tmpl))
	if strings.Contains(filled, "{{") {
		w.t.Fatalf("%s has a placeholder this test does not fill:\n%s", attestationStateV0Template, filled)
	}
	var resource struct {
		Instances []struct {
			SchemaVersion *int `json:"schema_version"`
		} `json:"instances"`
	}
	if err := json.Unmarshal([]byte(filled), &resource); err != nil {
		w.t.Fatalf("%s: %v", attestationStateV0Template, err)
	}
	if len(resource.Instances) != 1 || resource.Instances[0].SchemaVersion == nil || *resource.Instances[0].SchemaVersion != 0 {
		w.t.Fatalf("%s must hold one instance with schema_version 0, the predecessor's", attestationStateV0Template)
	}
	state, err := json.MarshalIndent(map[string]any{
		"version":           4,
		"terraform_version": fmt.Sprintf("%d.%d.%d", w.e.cli.Major, w.e.cli.Minor, w.e.cli.Patch),
		"serial":            1,
		"lineage":           newLineage(w.t),
		"outputs":           map[string]any{},
		"resources":         []json.RawMessage{json.RawMessage(filled)},
		"check_results":     nil,
	}, "", "  ")
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "terraform.tfstate"), state, 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// planAttestation runs `plan -detailed-exitcode` with the key (as
// TF_VAR_signing_key) and the variables.
func (w *workspace) planAttestation(key string, vars []string) result {
	w.t.Helper()
	return w.terraform([]string{"TF_VAR_signing_key=" + key}, append([]string{"plan", "-detailed-exitcode", "-input=false", "-no-color"}, vars...)...)
}

// TestAttestationStateUpgrade: an attestation recorded by the predecessor
// release (its state, schema version 0, from testdata) is planned by this
// provider with the same configuration: no error and no diff; a
// refresh-only apply stores it at the current schema version with the
// recorded attestations, signing time and verdict kept.
//
// Refresh removes a record whose attestations are gone from the registry
// (the next plan signs anew), so the attestations the state names must
// exist: this test first signs them with the same configuration and key
// in another workspace (with this provider: the predecessor's binary is not
// built in CI) and fills their digests and signing time into the template;
// everything else in the state is what the predecessor wrote. With
// IMAGEGUARD_ATTESTATION_PRED_PROVIDER set, a further subtest applies with
// the predecessor's binary itself and plans its state with this provider.
//
// Controls, so the test can fail: a changed signed setting (max_layers)
// plans a new attestation (exit 2), and so does a state naming an
// attestation the registry does not hold.
func TestAttestationStateUpgrade(t *testing.T) {
	e := setup(t)
	f := newPinUpgradeFixture(t)
	key := newSigningKeyPEM(t)

	// Sign the attestations the filled-in template names.
	signer := e.attestWorkspace(t)
	signer.mustTerraform([]string{"TF_VAR_signing_key=" + key}, append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, f.attestVars(t)...)...)
	signedRes := signer.showAttestation()
	signed := signedAttestations{digests: stringsOf(signedRes.Values["attestation_digests"])}
	signed.signedAt, _ = signedRes.Values["signed_at"].(string)
	if len(signed.digests) != 2 || signed.signedAt == "" {
		t.Fatalf("the signing run recorded attestation_digests %q and signed_at %q; want two digests and a time", signed.digests, signed.signedAt)
	}

	t.Run("same configuration, no diff", func(t *testing.T) {
		w := e.attestWorkspace(t)
		w.writeAttestationV0State(f, key, signed)
		vars := f.attestVars(t)
		plan := w.planAttestation(key, vars)
		if plan.err != nil || plan.code != 0 {
			t.Fatalf("the first plan of a version 0 attestation state with the new provider must succeed with no changes (exit 0; 1 is an error, 2 a diff): %s", plan)
		}
		t.Logf("%s", plan)
		refreshed := w.mustTerraform([]string{"TF_VAR_signing_key=" + key}, append([]string{"apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"}, vars...)...)
		t.Logf("%s", refreshed)
		a := w.showAttestation()
		if a.SchemaVersion != currentAttestationSchemaVersion {
			t.Errorf("schema_version after a refresh-only apply = %d, want %d", a.SchemaVersion, currentAttestationSchemaVersion)
		}
		for attr, want := range map[string]any{
			"id":                f.attestRef(),
			"image":             f.attestRef(),
			"digest":            f.digest.String(),
			"signed_at":         signed.signedAt,
			"location":          "referrers tag sha256-" + f.digest.Hex,
			"renew_after":       "720h",
			"tlog_upload":       false,
			"delete_on_destroy": false,
		} {
			if got := a.Values[attr]; got != want {
				t.Errorf("%s = %#v, want %#v", attr, got, want)
			}
		}
		if got := stringsOf(a.Values["attestation_digests"]); !slices.Equal(got, signed.digests) {
			t.Errorf("attestation_digests = %q, want the recorded %q", got, signed.digests)
		}
		if got, want := stringsOf(a.Values["predicate_types"]), stringsOf(signedRes.Values["predicate_types"]); len(got) != 2 || !slices.Equal(got, want) {
			t.Errorf("predicate_types = %q, want the predecessor's two, as this release signs them (%q)", got, want)
		}
		verdict, _ := a.Values["verdict"].(map[string]any)
		if verdict["result"] != "passed" || verdict["db_version"] != f.dbVersion() {
			t.Errorf("verdict = %#v, want the predecessor's: passed, db_version %s", a.Values["verdict"], f.dbVersion())
		}
		keyBlock, _ := a.Values["key"].(map[string]any)
		if keyBlock == nil || keyBlock["private_key_pem"] != key {
			t.Errorf("key.private_key_pem is not the configured key after the upgrade")
		}
		for _, attr := range []string{"private_key_pem_wo", "private_key_pem_wo_version", "password_wo", "password_wo_version", "private_key_env", "password"} {
			if keyBlock != nil && keyBlock[attr] != nil {
				t.Errorf("key.%s = %#v, want null (not in the predecessor's state)", attr, keyBlock[attr])
			}
		}
		if scan, _ := a.Values["scan"].(map[string]any); scan == nil || scan["severity_threshold"] != "HIGH" || scan["unknown_severity"] != nil {
			t.Errorf("scan = %#v, want the predecessor's settings with unknown_severity null", a.Values["scan"])
		}
		again := w.planAttestation(key, vars)
		if again.code != 0 {
			t.Fatalf("a plan after the upgraded state was stored must report no changes: %s", again)
		}
	})

	// Control: a setting that changes what is signed.
	t.Run("changed setting, plan signs anew", func(t *testing.T) {
		w := e.attestWorkspace(t)
		w.writeAttestationV0State(f, key, signed)
		plan := w.planAttestation(key, f.attestVars(t, "max_layers=11"))
		if plan.code != 2 {
			t.Fatalf("a changed max_layers must plan a new attestation (exit 2): %s", plan)
		}
		if !strings.Contains(plan.stdout, "attestation_digests") || !strings.Contains(plan.stdout, "known after apply") {
			t.Fatalf("the plan should show new attestation_digests, known after apply: %s", plan)
		}
		t.Logf("%s", plan)
	})

	// Control: the state names an attestation the registry does not hold;
	// refresh drops the record and the plan signs anew.
	t.Run("attestation gone, plan signs anew", func(t *testing.T) {
		w := e.attestWorkspace(t)
		gone := signed
		gone.digests = []string{fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("never pushed"))), signed.digests[1]}
		w.writeAttestationV0State(f, key, gone)
		plan := w.planAttestation(key, f.attestVars(t))
		if plan.code != 2 || !strings.Contains(plan.stdout, "will be created") {
			t.Fatalf("a recorded attestation missing from the registry must plan a new one (exit 2, created): %s", plan)
		}
	})

	t.Run("applied by the predecessor in this run", func(t *testing.T) {
		bin := os.Getenv("IMAGEGUARD_ATTESTATION_PRED_PROVIDER")
		if bin == "" {
			t.Skip("set IMAGEGUARD_ATTESTATION_PRED_PROVIDER to a provider binary built from commit 4608f1c to apply with it here (testdata/README.md)")
		}
		w := predecessorEnv(t, bin).attestWorkspace(t)
		vars := f.attestVars(t)
		w.mustTerraform([]string{"TF_VAR_signing_key=" + key}, append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, vars...)...)
		if a := w.showAttestation(); a.SchemaVersion != 0 {
			t.Fatalf("the predecessor wrote schema_version %d, want 0", a.SchemaVersion)
		}
		w.e = e
		plan := w.planAttestation(key, vars)
		if plan.err != nil || plan.code != 0 {
			t.Fatalf("the predecessor's state must plan with no changes under this provider (exit 0): %s", plan)
		}
		w.mustTerraform([]string{"TF_VAR_signing_key=" + key}, append([]string{"apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"}, vars...)...)
		if a := w.showAttestation(); a.SchemaVersion != currentAttestationSchemaVersion {
			t.Errorf("schema_version after a refresh-only apply = %d, want %d", a.SchemaVersion, currentAttestationSchemaVersion)
		}
	})
}

// predecessorEnv is an env whose dev_overrides point terraform at bin, a
// provider binary named terraform-provider-imageguard.
func predecessorEnv(t *testing.T, bin string) *env {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("end-to-end tests run only with TF_ACC=1")
	}
	if filepath.Base(bin) != "terraform-provider-imageguard" {
		t.Fatalf("%s: dev_overrides needs the binary named terraform-provider-imageguard", bin)
	}
	dir := t.TempDir()
	tf := terraformPath(t)
	e := &env{terraform: tf, cli: acctest.DetectCLI(t, tf), cliConfig: filepath.Join(dir, "terraformrc"), dockerCfg: filepath.Join(dir, "docker")}
	rc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"imageguard/imageguard\" = %q\n  }\n  direct {}\n}\n", filepath.Dir(bin))
	if err := os.WriteFile(e.cliConfig, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.dockerCfg, 0o700); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestCaptureAttestationStatePredecessor writes
// testdata/attestation-state-v0.json again: it applies
// attestationUpgradeConfig with the predecessor's provider binary (built
// from commit 4608f1c, named by IMAGEGUARD_ATTESTATION_PRED_PROVIDER) and
// keeps the resource from terraform.tfstate with this run's values, and
// the private key, as placeholders. It is a tool, skipped unless that
// variable is set; see testdata/README.md.
func TestCaptureAttestationStatePredecessor(t *testing.T) {
	bin := os.Getenv("IMAGEGUARD_ATTESTATION_PRED_PROVIDER")
	if bin == "" {
		t.Skip("set IMAGEGUARD_ATTESTATION_PRED_PROVIDER to a provider binary built from commit 4608f1c to capture its state (testdata/README.md)")
	}
	e := predecessorEnv(t, bin)
	f := newPinUpgradeFixture(t)
	key := newSigningKeyPEM(t)
	w := e.attestWorkspace(t)
	w.mustTerraform([]string{"TF_VAR_signing_key=" + key}, append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, f.attestVars(t)...)...)
	raw, err := os.ReadFile(filepath.Join(w.dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		Resources []json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(raw, &state); err != nil {
		t.Fatal(err)
	}
	if len(state.Resources) != 1 {
		t.Fatalf("want one resource in the state, got %d", len(state.Resources))
	}
	var instance struct {
		Instances []struct {
			SchemaVersion int `json:"schema_version"`
			Attributes    struct {
				SignedAt           string   `json:"signed_at"`
				AttestationDigests []string `json:"attestation_digests"`
			} `json:"attributes"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(state.Resources[0], &instance); err != nil {
		t.Fatal(err)
	}
	if len(instance.Instances) != 1 || instance.Instances[0].SchemaVersion != 0 || instance.Instances[0].Attributes.SignedAt == "" ||
		len(instance.Instances[0].Attributes.AttestationDigests) != 2 {
		t.Fatalf("want one instance with schema_version 0, signed_at and two attestation digests, got %d instances", len(instance.Instances))
	}
	attrs := instance.Instances[0].Attributes
	var indented bytes.Buffer
	if err := json.Indent(&indented, state.Resources[0], "", "  "); err != nil {
		t.Fatal(err)
	}
	tmpl := strings.NewReplacer(
		jsonText(t, key), phPrivateKeyPEM,
		`"`+attrs.SignedAt+`"`, `"`+phSignedAt+`"`,
		attrs.AttestationDigests[0], phAttestation0,
		attrs.AttestationDigests[1], phAttestation1,
		f.dbVersion(), phDBVersion,
		f.digest.String(), phDigest,
		f.digest.Hex, phDigestHex,
		f.reg.Host, phRegistry,
		e.providerHost()+"/imageguard/imageguard", phProviderHost+"/imageguard/imageguard",
	).Replace(indented.String())
	for _, left := range []string{"127.0.0.1", "sha256:", "PRIVATE KEY", f.db.UpdatedAt.Format(time.RFC3339), attrs.SignedAt} {
		if strings.Contains(tmpl, left) {
			t.Fatalf("the template still holds %q, a value of this run (template not written)", left)
		}
	}
	if !strings.Contains(tmpl, phPrivateKeyPEM) {
		t.Fatalf("the state does not hold the private key where the template expects it (template not written)")
	}
	if err := os.WriteFile(attestationStateV0Template, []byte(tmpl+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s from %s:\n%s", attestationStateV0Template, bin, tmpl)
}

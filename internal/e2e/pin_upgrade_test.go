package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// pinStateV0Template is an imageguard_pin resource as the first release
// (schema version 0, commit f5682f5) wrote it into terraform.tfstate, with
// this run's values left as placeholders. testdata/README.md says how it
// was captured; TestCapturePinStateV0 captures it again.
const pinStateV0Template = "testdata/pin-state-v0.json"

// Placeholders of the template.
const (
	phProviderHost = "{{PROVIDER_HOST}}"
	phRegistry     = "{{REGISTRY}}"
	phDigest       = "{{DIGEST}}"
	phDBVersion    = "{{DB_VERSION}}"
	phApprovedAt   = "{{APPROVED_AT}}"
)

// pinUpgradeRepo is the tag the pin follows, below the registry's host.
const pinUpgradeRepo = "team/api:1.0"

// pinUpgradeConfig is the configuration applied with the first release and
// planned with this one: a pin with a scan block (with an ignore) and a
// policy block, no verify block, on_tag_move unset.
const pinUpgradeConfig = `terraform {
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

provider "imageguard" {
  vulnerability_db {
    repositories = [var.db_repository]
    cache_dir    = var.cache_dir
  }
}

resource "imageguard_pin" "app" {
  ref = var.image

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
    max_layers       = 10
  }
}
`

// pinUpgradeFixture is a registry holding the pinned tag and a Trivy DB.
type pinUpgradeFixture struct {
	reg    *dockerRegistry
	ref    string
	digest v1.Hash
	db     acctest.DBMeta
}

// pinUpgradeImage is a Debian 12 image: a release the DB fixture covers
// and Trivy does not count as end of life until 2028 (the fixture's Alpine
// 3.20 is, so it would fail the scan gate with OS-EOSL). libc6 is at the
// fixed version; zlib's unfixed CRITICAL CVE is what the scan block ignores.
// id makes images with different digests.
func pinUpgradeImage(id string) v1.Image {
	return acctest.Image(acctest.Config{User: "1000"},
		acctest.DebianLayer("12",
			acctest.Package{Name: "libc6", Version: "2.36-9+deb12u11", Source: "glibc"},
			acctest.Package{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib"}),
		acctest.Layer(acctest.File{Path: "app/"}, acctest.File{Path: "app/id", Content: id}))
}

func newPinUpgradeFixture(t *testing.T) *pinUpgradeFixture {
	t.Helper()
	reg := startDockerRegistry(t, "")
	f := &pinUpgradeFixture{reg: reg, ref: reg.Host + "/" + pinUpgradeRepo, db: acctest.FreshDBMeta(time.Now().UTC())}
	f.digest = push(t, f.ref, pinUpgradeImage("first"), authn.Anonymous)
	(&acctest.Registry{Host: reg.Host}).PushTrivyDB(t, "aquasecurity/trivy-db:2", acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, f.db))
	return f
}

// vars are the -var flags of pinUpgradeConfig; each workspace has its own
// cache directory.
func (f *pinUpgradeFixture) vars(t *testing.T) []string {
	return varFlags([]string{"image=" + f.ref, "db_repository=" + f.reg.Host + "/aquasecurity/trivy-db:2", "cache_dir=" + t.TempDir()})
}

// dbVersion is approved_db_version for the fixture's database, as the
// provider writes it: `<schema version>@<UpdatedAt>`.
func (f *pinUpgradeFixture) dbVersion() string {
	return fmt.Sprintf("2@%s", f.db.UpdatedAt.UTC().Format(time.RFC3339))
}

// configWorkspace is a workspace holding pinUpgradeConfig.
func (e *env) configWorkspace(t *testing.T) *workspace {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(pinUpgradeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return &workspace{t: t, e: e, dir: dir}
}

// providerHost is the registry host the CLI records in state for a
// provider source without one.
func (e *env) providerHost() string {
	if e.cli.OpenTofu {
		return "registry.opentofu.org"
	}
	return "registry.terraform.io"
}

// writeV0State writes terraform.tfstate into the workspace: the template's
// resource, its placeholders filled with this run's values, in a state
// document of this CLI's version with a fresh lineage.
func (w *workspace) writeV0State(f *pinUpgradeFixture, approvedAt time.Time) {
	w.t.Helper()
	tmpl, err := os.ReadFile(pinStateV0Template)
	if err != nil {
		w.t.Fatal(err)
	}
	filled := strings.NewReplacer(
		phProviderHost, w.e.providerHost(),
		phRegistry, f.reg.Host,
		phDigest, f.digest.String(),
		phDBVersion, f.dbVersion(),
		phApprovedAt, approvedAt.UTC().Format(time.RFC3339),
	).Replace(string(tmpl))
	if strings.Contains(filled, "{{") {
		w.t.Fatalf("%s has a placeholder this test does not fill:\n%s", pinStateV0Template, filled)
	}
	var resource struct {
		Instances []struct {
			SchemaVersion *int `json:"schema_version"`
		} `json:"instances"`
	}
	if err := json.Unmarshal([]byte(filled), &resource); err != nil {
		w.t.Fatalf("%s: %v", pinStateV0Template, err)
	}
	if len(resource.Instances) != 1 || resource.Instances[0].SchemaVersion == nil || *resource.Instances[0].SchemaVersion != 0 {
		w.t.Fatalf("%s must hold one instance with schema_version 0, the first release's", pinStateV0Template)
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

// newLineage is a random UUID, as the CLI makes a state lineage.
func newLineage(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// shownPin is imageguard_pin.app in `terraform show -json` of the state.
type shownPin struct {
	SchemaVersion int            `json:"schema_version"`
	Values        map[string]any `json:"values"`
}

func (w *workspace) showPin() shownPin {
	w.t.Helper()
	r := w.mustTerraform(nil, "show", "-no-color", "-json")
	var shown struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address string `json:"address"`
					shownPin
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		w.t.Fatalf("terraform show -json: %v\n%s", err, r.stdout)
	}
	for _, res := range shown.Values.RootModule.Resources {
		if res.Address == "imageguard_pin.app" {
			return res.shownPin
		}
	}
	w.t.Fatalf("terraform show -json has no imageguard_pin.app:\n%s", r.stdout)
	return shownPin{}
}

// TestPinStateUpgrade: a pin applied by the first release (its state,
// schema version 0, from testdata) is planned by this provider with the
// same configuration: no error and no diff; a refresh-only apply stores it
// as version 1 with on_tag_move "update". The control moves the tag: the
// same state then plans the new digest (exit 2), so the test can fail.
// currentPinSchemaVersion is imageguard_pin's state version in this release
// (internal/provider pinSchemaVersion; e2e drives the built binary only).
const currentPinSchemaVersion = 3

func TestPinStateUpgrade(t *testing.T) {
	e := setup(t)
	f := newPinUpgradeFixture(t)
	approvedAt := time.Now().UTC().Add(-30 * time.Minute)

	t.Run("same configuration, no diff", func(t *testing.T) {
		w := e.configWorkspace(t)
		w.writeV0State(f, approvedAt)
		vars := f.vars(t)
		plan := w.terraform(nil, append([]string{"plan", "-detailed-exitcode", "-input=false", "-no-color"}, vars...)...)
		if plan.err != nil || plan.code != 0 {
			t.Fatalf("the first plan of a version 0 state with the new provider must succeed with no changes (exit 0; 1 is an error, 2 a diff): %s", plan)
		}
		t.Logf("%s", plan)
		refreshed := w.mustTerraform(nil, append([]string{"apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"}, vars...)...)
		t.Logf("%s", refreshed)
		pin := w.showPin()
		// The current version (2: attestation max_age came after 1); any
		// version past the first release's 0 went through the upgraders.
		if pin.SchemaVersion != currentPinSchemaVersion {
			t.Errorf("schema_version after a refresh-only apply = %d, want %d", pin.SchemaVersion, currentPinSchemaVersion)
		}
		for attr, want := range map[string]any{
			"on_tag_move":         "update",
			"digest":              f.digest.String(),
			"tag_digest":          f.digest.String(),
			"pinned":              f.reg.Host + "/team/api@" + f.digest.String(),
			"approved_at":         approvedAt.Format(time.RFC3339),
			"approved_db_version": f.dbVersion(),
		} {
			if got := pin.Values[attr]; got != want {
				t.Errorf("%s = %#v, want %q", attr, got, want)
			}
		}
		if policy, ok := pin.Values["policy"].(map[string]any); !ok || policy["enforcement"] != nil || policy["require_non_root"] != true {
			t.Errorf("policy = %#v, want the version 0 rules with enforcement null", pin.Values["policy"])
		}
		if pin.Values["verify"] != nil {
			t.Errorf("verify = %#v, want null (no verify block)", pin.Values["verify"])
		}
		again := w.terraform(nil, append([]string{"plan", "-detailed-exitcode", "-input=false", "-no-color"}, vars...)...)
		if again.code != 0 {
			t.Fatalf("a plan after the upgraded state was stored must report no changes: %s", again)
		}
	})

	// Control: the tag has moved since the version 0 state was written.
	t.Run("tag moved, plan shows the new digest", func(t *testing.T) {
		moved := push(t, f.ref, pinUpgradeImage("second"), authn.Anonymous)
		w := e.configWorkspace(t)
		w.writeV0State(f, approvedAt)
		plan := w.terraform(nil, append([]string{"plan", "-detailed-exitcode", "-input=false", "-no-color"}, f.vars(t)...)...)
		if plan.code != 2 {
			t.Fatalf("a moved tag must plan a change (exit 2): %s", plan)
		}
		if !strings.Contains(plan.stdout, f.digest.String()) || !strings.Contains(plan.stdout, moved.String()) {
			t.Fatalf("the plan should show the approved digest %s replaced by %s: %s", f.digest, moved, plan)
		}
		t.Logf("%s", plan)
	})
}

// TestCapturePinStateV0 writes testdata/pin-state-v0.json again: it applies
// pinUpgradeConfig with the first release's provider binary (built from
// commit f5682f5, named by IMAGEGUARD_PIN_V0_PROVIDER) and keeps the
// resource from terraform.tfstate with this run's values as placeholders.
// It is a tool, skipped unless that variable is set; see testdata/README.md.
func TestCapturePinStateV0(t *testing.T) {
	bin := os.Getenv("IMAGEGUARD_PIN_V0_PROVIDER")
	if bin == "" {
		t.Skip("set IMAGEGUARD_PIN_V0_PROVIDER to a provider binary built from commit f5682f5 to capture its state (testdata/README.md)")
	}
	if os.Getenv("TF_ACC") == "" {
		t.Skip("end-to-end tests run only with TF_ACC=1")
	}
	if filepath.Base(bin) != "terraform-provider-imageguard" {
		t.Fatalf("IMAGEGUARD_PIN_V0_PROVIDER=%s: dev_overrides needs the binary named terraform-provider-imageguard", bin)
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

	f := newPinUpgradeFixture(t)
	w := e.configWorkspace(t)
	w.mustTerraform(nil, append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, f.vars(t)...)...)
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
		t.Fatalf("want one resource in the state, got %d:\n%s", len(state.Resources), raw)
	}
	var instance struct {
		Instances []struct {
			SchemaVersion int `json:"schema_version"`
			Attributes    struct {
				ApprovedAt string `json:"approved_at"`
			} `json:"attributes"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(state.Resources[0], &instance); err != nil {
		t.Fatal(err)
	}
	if len(instance.Instances) != 1 || instance.Instances[0].SchemaVersion != 0 || instance.Instances[0].Attributes.ApprovedAt == "" {
		t.Fatalf("want one instance with schema_version 0 and approved_at set, got:\n%s", state.Resources[0])
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, state.Resources[0], "", "  "); err != nil {
		t.Fatal(err)
	}
	tmpl := strings.NewReplacer(
		`"`+instance.Instances[0].Attributes.ApprovedAt+`"`, `"`+phApprovedAt+`"`,
		f.dbVersion(), phDBVersion,
		f.digest.String(), phDigest,
		f.reg.Host, phRegistry,
		e.providerHost()+"/imageguard/imageguard", phProviderHost+"/imageguard/imageguard",
	).Replace(indented.String())
	for _, left := range []string{"127.0.0.1", "sha256:", f.db.UpdatedAt.Format(time.RFC3339)} {
		if strings.Contains(tmpl, left) {
			t.Fatalf("the template still holds %q, a value of this run:\n%s", left, tmpl)
		}
	}
	if err := os.WriteFile(pinStateV0Template, []byte(tmpl+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s from %s:\n%s", pinStateV0Template, bin, tmpl)
}

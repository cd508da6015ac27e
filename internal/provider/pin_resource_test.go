package provider

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// pinFixture serves a database whose NextUpdate has passed, so every
// provider process asks the repository again: publishing a new database
// between steps is seen by the next plan.
type pinFixture struct {
	reg      *acctest.Registry
	dbRepo   string
	cacheDir string
}

func newPinFixture(t *testing.T) *pinFixture {
	t.Helper()
	reg := acctest.NewRegistry(t)
	f := &pinFixture{reg: reg, dbRepo: reg.Ref("aquasecurity/trivy-db:2"), cacheDir: t.TempDir()}
	f.publishDB(t, time.Hour)
	return f
}

func (f *pinFixture) publishDB(t *testing.T, age time.Duration, fixtures ...string) {
	now := time.Now().UTC()
	archive := acctest.TrivyDBArchive(t, append([]string{acctest.FixtureAdvisories}, fixtures...), acctest.DBMeta{UpdatedAt: now.Add(-age), NextUpdate: now.Add(-time.Minute)})
	f.reg.PushTrivyDB(t, "aquasecurity/trivy-db:2", archive)
}

func (f *pinFixture) pushApp(t *testing.T, user, musl string) string {
	d := f.reg.Push(t, "team/app:1", acctest.Image(acctest.Config{User: user}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: musl})))
	return d.String()
}

func (f *pinFixture) config(extra string) string {
	return fmt.Sprintf(`
provider "imageguard" {
  vulnerability_db {
    repositories = [%q]
    cache_dir    = %q
  }
}
resource "imageguard_pin" "app" {
  ref = %q
%s
}`, f.dbRepo, f.cacheDir, f.reg.Ref("team/app:1"), extra)
}

func TestAccPin_createNoopAndTagMove(t *testing.T) {
	t.Parallel()
	f := newPinFixture(t)
	first := f.pushApp(t, "1000", "1.2.5-r1")
	var second string
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_pin.app", plancheck.ResourceActionCreate),
					plancheck.ExpectKnownValue("imageguard_pin.app", tfjsonpath.New("digest"), knownvalue.StringExact(first)),
					plancheck.ExpectUnknownValue("imageguard_pin.app", tfjsonpath.New("approved_at")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_pin.app", "approved_at", knownvalue.StringRegexp(regexp.MustCompile(`^20\d\d-`))),
					check("imageguard_pin.app", "pinned", knownvalue.StringExact(f.reg.Host+"/team/app@"+first)),
					check("imageguard_pin.app", "tag_digest", knownvalue.StringExact(first)),
					check("imageguard_pin.app", "approved_db_version", knownvalue.StringRegexp(regexp.MustCompile(`^2@20`))),
					check("imageguard_pin.app", "findings_at_approval", knownvalue.MapPartial(map[string]knownvalue.Check{"HIGH": knownvalue.Int64Exact(0)})),
				},
			},
			{
				// Nothing changed: an empty plan.
				Config: f.config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
			},
			{
				// The tag moves to a new, passing image: the plan shows the new digest.
				PreConfig: func() { second = f.pushApp(t, "2000", "1.2.5-r1") },
				Config:    f.config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_pin.app", plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue("imageguard_pin.app", tfjsonpath.New("digest"), knownvalue.StringFunc(func(v string) error {
						if v != second || v == first {
							return fmt.Errorf("digest %s, want the new %s", v, second)
						}
						return nil
					})),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_pin.app", "pinned", knownvalue.StringFunc(func(v string) error {
						if v != f.reg.Host+"/team/app@"+second {
							return fmt.Errorf("pinned %s", v)
						}
						return nil
					})),
				},
			},
		},
	})
}

func TestAccPin_onTagMoveError(t *testing.T) {
	t.Parallel()
	f := newPinFixture(t)
	first := f.pushApp(t, "1000", "1.2.5-r1")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: f.config(`  on_tag_move = "error"`)},
			{
				PreConfig:   func() { f.pushApp(t, "3000", "1.2.5-r1") },
				Config:      f.config(`  on_tag_move = "error"`),
				ExpectError: wrapped(`(?s)Tag has moved.*now points to sha256:[0-9a-f]{64}.*approved digest is ` + first),
			},
			{
				// ignore keeps the approved digest.
				Config: f.config(`  on_tag_move = "ignore"`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_pin.app", "digest", knownvalue.StringExact(first)),
				},
			},
		},
	})
}

func TestAccPin_newAdvisoryAfterApproval(t *testing.T) {
	t.Parallel()
	f := newPinFixture(t)
	f.pushApp(t, "1000", "1.2.5-r1")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: f.config("")},
			{
				// Warn mode: the new CVE is reported, the plan goes on.
				PreConfig: func() { f.publishDB(t, 10*time.Minute, acctest.FixtureNewAdvisory) },
				Config: f.config(`  scan {
    enforcement = "warn"
  }`),
			},
			{
				Config:      f.config(""),
				ExpectError: wrapped(`(?s)Approved image: Image has CRITICAL vulnerabilities.*approved 20[0-9-]+T.*New violations: CVE-2026-0001`),
			},
		},
	})
}

func TestAccPin_importAndOutage(t *testing.T) {
	t.Parallel()
	f := newPinFixture(t)
	digest := f.pushApp(t, "1000", "1.2.5-r1")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config:             f.config(""),
				ResourceName:       "imageguard_pin.app",
				ImportState:        true,
				ImportStateId:      f.reg.Ref("team/app:1") + "@" + digest,
				ImportStatePersist: true,
				ImportStateCheck: func(states []*terraform.InstanceState) error {
					if len(states) != 1 || states[0].Attributes["digest"] != digest || states[0].Attributes["approved_at"] != "" {
						return fmt.Errorf("imported state: %+v", states)
					}
					return nil
				},
			},
			{
				// The next plan judges the imported digest and records the approval.
				Config: f.config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_pin.app", plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue("imageguard_pin.app", tfjsonpath.New("approved_at")),
					plancheck.ExpectKnownValue("imageguard_pin.app", tfjsonpath.New("digest"), knownvalue.StringExact(digest)),
				}},
			},
			{
				PreConfig:   func() { f.reg.SetDown(true) },
				Config:      f.config(""),
				ExpectError: wrapped(`(?s)Registry error.*team/app:1`),
			},
			{
				// Back up: the record is untouched, nothing to do.
				PreConfig: func() { f.reg.SetDown(false) },
				Config:    f.config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_pin.app", "digest", knownvalue.StringExact(digest)),
				},
			},
		},
	})
}

func TestAccPin_verifyAndPolicyGates(t *testing.T) {
	t.Parallel()
	f := newPinFixture(t)
	ss := acctest.NewSigstore(t)
	key := acctest.NewKeyPair(t)
	digest := f.reg.Push(t, "team/app:1", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	gates := fmt.Sprintf(`
  verify {
    trusted_root_json = %q
    authority {
      name = "ci"
      key {
        public_key_pem = %q
      }
    }
  }
  policy {
    require_non_root = true
    forbidden_ports  = ["22"]
  }`, ss.TrustedRootJSON(t), key.PublicKeyPEM)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				// Unsigned: not approved.
				Config:      f.config(gates),
				ExpectError: wrapped(`(?s)Image signature not verified.*authority "ci" did not verify: no signature found`),
			},
			{
				PreConfig: func() { f.reg.SignBundle(t, "team/app", digest, acctest.Signer{Key: key, Sigstore: ss, TLog: true}) },
				Config:    f.config(gates),
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_pin.app", "digest", knownvalue.StringExact(digest.String())),
				},
			},
			{
				// A signed image running as root, pushed under the tag: not approved.
				PreConfig: func() {
					d := f.reg.Push(t, "team/app:1", acctest.Image(acctest.Config{User: "root"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
					f.reg.SignBundle(t, "team/app", d, acctest.Signer{Key: key, Sigstore: ss, TLog: true})
				},
				Config:      f.config(gates),
				ExpectError: wrapped(`(?s)Image fails the pin's policy.*cannot be approved.*require_non_root: runs as root`),
			},
		},
	})
}

package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

const (
	vulnType        = policy.VulnPredicateType
	verdictType     = "https://imageguard.dev/verdict/v1"
	testKeyPassword = "correct horse battery staple"
)

// attestFixture is a registry with a vulnerability database, an image
// signed by a key (imageguard_verify needs a signature besides the
// attestations), and an in-memory Sigstore whose Rekor is served over HTTP.
type attestFixture struct {
	reg      *acctest.Registry
	dbRepo   string
	cacheDir string
	key      *acctest.KeyPair
	ss       *acctest.Sigstore
	rekorURL string
	root     string
}

func newAttestFixture(t *testing.T, reg *acctest.Registry) *attestFixture {
	t.Helper()
	f := &attestFixture{reg: reg, dbRepo: reg.Ref("aquasecurity/trivy-db:2"), cacheDir: t.TempDir(), key: acctest.NewKeyPair(t), ss: acctest.NewSigstore(t)}
	f.publishDB(t)
	f.rekorURL, _ = f.ss.RekorServer(t)
	f.root = f.ss.TrustedRootJSON(t)
	return f
}

// publishDB serves a database whose NextUpdate has passed, so each provider
// process reads the repository again and sees a newly published one.
func (f *attestFixture) publishDB(t *testing.T, fixtures ...string) {
	now := time.Now().UTC()
	archive := acctest.TrivyDBArchive(t, append([]string{acctest.FixtureAdvisories}, fixtures...), acctest.DBMeta{UpdatedAt: now.Add(-time.Hour), NextUpdate: now.Add(-time.Minute)})
	f.reg.PushTrivyDB(t, "aquasecurity/trivy-db:2", archive)
}

// push publishes an Alpine image with musl at the version given (1.2.5-r0
// has a HIGH CVE, 1.2.5-r1 none) and signs it with the fixture's key.
func (f *attestFixture) push(t *testing.T, repo, musl string) v1.Hash {
	t.Helper()
	d := f.reg.Push(t, repo+":1", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: musl})))
	f.reg.SignBundle(t, repo, d, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	return d
}

func (f *attestFixture) pinned(repo string, d v1.Hash) string {
	return f.reg.Host + "/" + repo + "@" + d.String()
}

func (f *attestFixture) provider() string {
	return fmt.Sprintf(`
provider "imageguard" {
  vulnerability_db {
    repositories = [%q]
    cache_dir    = %q
  }
}
`, f.dbRepo, f.cacheDir)
}

// keyBlock signs with the cosign key (password-encrypted) and logs in Rekor.
func (f *attestFixture) keyBlock(t *testing.T) string {
	return fmt.Sprintf(`
  key {
    private_key_pem = %q
    password        = %q
  }
  rekor_url = %q`, f.key.CosignPEM(t, testKeyPassword), testKeyPassword, f.rekorURL)
}

func (f *attestFixture) attestation(name, image, body string) string {
	return fmt.Sprintf(`
resource "imageguard_attestation" %q {
  image = %q
%s
}
`, name, image, body)
}

// verifyVuln is imageguard_verify requiring a recent vulnerability
// attestation with no CRITICAL finding, and a passed verdict.
func (f *attestFixture) verifyVuln(image, maxAge string) string {
	return fmt.Sprintf(`
data "imageguard_verify" "x" {
  image             = %q
  trusted_root_json = %q
  authority {
    name = "release"
    key {
      public_key_pem = %q
    }
  }
  attestation {
    predicate_type = "vuln"
    condition      = "predicate.scanner.result.Results.all(r, !('Vulnerabilities' in r) || r.Vulnerabilities.all(v, v.Severity != 'CRITICAL'))"
    max_age        = %q
  }
  attestation {
    predicate_type = %q
    condition      = "predicate.result == 'passed' && predicate.gates.scan.passed"
    max_age        = %q
  }
}
`, image, f.root, f.key.PublicKeyPEM, maxAge, verdictType, maxAge)
}

// referrers lists the attestations imageguard made on d (by annotation).
func (f *attestFixture) referrers(t *testing.T, repo string, d v1.Hash) []v1.Descriptor {
	t.Helper()
	var out []v1.Descriptor
	for _, r := range f.reg.Referrers(t, repo, d) {
		if pt := r.Annotations[attest.AnnotationPredicateType]; pt == vulnType || pt == verdictType {
			out = append(out, r)
		}
	}
	return out
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func TestAccAttestation_createVerifyImport(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/app", "1.2.5-r1")
	image := f.pinned("team/app", d)
	cfg := f.provider() + f.attestation("app", image, f.keyBlock(t))
	var signed []string
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_attestation.app", plancheck.ResourceActionCreate),
					plancheck.ExpectKnownValue("imageguard_attestation.app", tfjsonpath.New("digest"), knownvalue.StringExact(d.String())),
					plancheck.ExpectKnownValue("imageguard_attestation.app", tfjsonpath.New("predicate_types"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(vulnType), knownvalue.StringExact(verdictType)})),
					plancheck.ExpectUnknownValue("imageguard_attestation.app", tfjsonpath.New("signed_at")),
					plancheck.ExpectUnknownValue("imageguard_attestation.app", tfjsonpath.New("attestation_digests")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_attestation.app", "id", knownvalue.StringExact(image)),
					check("imageguard_attestation.app", "location", knownvalue.StringExact("referrers API")),
					check("imageguard_attestation.app", "signed_at", knownvalue.StringRegexp(regexp.MustCompile(`^20\d\d-\d\d-\d\dT`))),
					check("imageguard_attestation.app", "attestation_digests", knownvalue.ListExact([]knownvalue.Check{knownvalue.StringRegexp(digestRE), knownvalue.StringRegexp(digestRE)})),
					check("imageguard_attestation.app", "verdict", knownvalue.ObjectExact(map[string]knownvalue.Check{
						"result": knownvalue.StringExact("passed"), "db_version": knownvalue.StringRegexp(regexp.MustCompile(`^2@20`)),
						"findings": knownvalue.MapPartial(map[string]knownvalue.Check{"HIGH": knownvalue.Int64Exact(0), "CRITICAL": knownvalue.Int64Exact(0)}),
						"ignored":  knownvalue.Int64Exact(0), "violations": knownvalue.Int64Exact(0),
					})),
					statecheck.ExpectSensitiveValue("imageguard_attestation.app", tfjsonpath.New("key").AtMapKey("private_key_pem")),
				},
				Check: func(s *terraform.State) error {
					rs := s.RootModule().Resources["imageguard_attestation.app"].Primary.Attributes
					signed = []string{rs["attestation_digests.0"], rs["attestation_digests.1"]}
					refs := f.referrers(t, "team/app", d)
					if len(refs) != 2 {
						return fmt.Errorf("the registry lists %d imageguard referrers of %s, want 2: %+v", len(refs), d, refs)
					}
					for _, r := range refs {
						if r.Digest.String() != signed[0] && r.Digest.String() != signed[1] {
							return fmt.Errorf("referrer %s is not in state %v", r.Digest, signed)
						}
					}
					return nil
				},
			},
			{
				// Another module relies on the verdict: imageguard_verify with
				// the key finds both attestations, recent and clean.
				Config: cfg + f.verifyVuln(image, "168h"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_attestation.app", plancheck.ResourceActionNoop),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "attestations", knownvalue.ListSizeExact(2)),
				},
				Check: func(s *terraform.State) error {
					a := s.RootModule().Resources["data.imageguard_verify.x"].Primary.Attributes
					got := map[string]string{a["attestations.0.predicate_type"]: a["attestations.0.digest"], a["attestations.1.predicate_type"]: a["attestations.1.digest"]}
					if got[vulnType] != d.String() || got[verdictType] != d.String() {
						return fmt.Errorf("verified attestations %v, want the vuln and verdict attestations on %s", got, d)
					}
					return nil
				},
			},
			{
				ResourceName:            "imageguard_attestation.app",
				ImportState:             true,
				ImportStateId:           image,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"key", "rekor_url", "verdict"},
			},
		},
	})
	// The predicate is what Trivy's cosign-vuln writes, with the database
	// and the findings; the verdict records the gates.
	pred := f.predicate(t, "team/app", d, signed[0])
	if pred["scanner"].(map[string]any)["uri"] != "pkg:github/aquasecurity/trivy@0.74.0" {
		t.Errorf("scanner = %v", pred["scanner"])
	}
	if v := pred["scanner"].(map[string]any)["db"].(map[string]any)["version"].(string); !strings.HasPrefix(v, "2@") {
		t.Errorf("db version = %q", v)
	}
	if _, ok := pred["metadata"].(map[string]any)["scanFinishedOn"]; !ok {
		t.Errorf("metadata = %v", pred["metadata"])
	}
	verdict := f.predicate(t, "team/app", d, signed[1])
	gates := verdict["gates"].(map[string]any)
	if verdict["result"] != "passed" || gates["scan"].(map[string]any)["settings"].(map[string]any)["severityThreshold"] != "HIGH" {
		t.Errorf("verdict = %v", verdict)
	}
}

// predicate reads the statement of a referrer's bundle (unverified: the
// verification is imageguard_verify's, above).
func (f *attestFixture) predicate(t *testing.T, repo string, d v1.Hash, referrer string) map[string]any {
	t.Helper()
	r, err := name.NewDigest(f.reg.Host+"/"+repo+"@"+referrer, name.WeakValidation)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("referrer %s: %d layers, %v", referrer, len(layers), err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b struct {
		DSSEEnvelope struct {
			Payload []byte `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.NewDecoder(rc).Decode(&b); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate map[string]any `json:"predicate"`
	}
	if err := json.Unmarshal(b.DSSEEnvelope.Payload, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != d.Hex {
		t.Fatalf("statement subject %+v, want %s", st.Subject, d)
	}
	f.reg.ResetRequests()
	return st.Predicate
}

func TestAccAttestation_failingGateSignsNothing(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/vulnerable", "1.2.5-r0")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config:      f.provider() + f.attestation("app", f.pinned("team/vulnerable", d), f.keyBlock(t)),
			ExpectError: wrapped(`(?s)Image has HIGH vulnerabilities.*CVE-2025-26519`),
		}},
	})
	if refs := f.referrers(t, "team/vulnerable", d); len(refs) != 0 {
		t.Fatalf("an image that failed the gate got %d attestation(s): %+v", len(refs), refs)
	}
	if all := f.reg.Referrers(t, "team/vulnerable", d); len(all) != 1 {
		t.Fatalf("want only the image's own signature as a referrer, got %d", len(all))
	}
}

func TestAccAttestation_invalidConfig(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/app", "1.2.5-r1")
	image := f.pinned("team/app", d)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config:      f.provider() + f.attestation("app", f.reg.Ref("team/app:1"), f.keyBlock(t)),
				ExpectError: wrapped(`(?s)Image is not pinned to a digest.*names a tag, which can move`),
			},
			{
				Config:      f.provider() + f.attestation("app", image, `  rekor_url = "https://rekor.example"`),
				ExpectError: wrapped(`(?s)Missing Attribute Configuration.*Exactly one of these attributes must be configured: \[key,kms,keyless\]`),
			},
			{
				Config: f.provider() + f.attestation("app", image, f.keyBlock(t)+`
  keyless {
    oidc_token_env = "SIGSTORE_ID_TOKEN"
  }`),
				ExpectError: wrapped(`(?s)Invalid Attribute Combination`),
			},
			{
				Config: f.provider() + f.attestation("app", image, fmt.Sprintf(`
  key {
    private_key_pem = %q
    password        = "not the password"
  }
  tlog_upload = false`, f.key.CosignPEM(t, testKeyPassword))),
				ExpectError: wrapped(`(?s)Cannot sign.*password does not decrypt the private key`),
			},
			{
				Config: f.provider() + f.attestation("app", image, `
  keyless {
    oidc_token_env = "SIGSTORE_ID_TOKEN"
  }
  tlog_upload = false`),
				ExpectError: wrapped(`(?s)Keyless signing needs the transparency log`),
			},
			{
				Config: f.provider() + f.attestation("app", image, `
  kms {
    uri = "vault://release"
  }`),
				ExpectError: wrapped(`(?s)Unknown KMS reference`),
			},
			{
				// The OIDC token and the log's answers never cross the
				// network in plain HTTP; loopback (the fixture's Rekor) may.
				Config: f.provider() + f.attestation("app", image, `
  keyless {
    fulcio_url     = "http://fulcio.example.com"
    oidc_token_env = "SIGSTORE_ID_TOKEN"
  }`),
				ExpectError: wrapped(`(?s)Plain HTTP refused.*http://fulcio.example.com uses plain HTTP, which is allowed only on loopback`),
			},
			{
				Config:      f.provider() + f.attestation("app", image, strings.Replace(f.keyBlock(t), f.rekorURL, "http://10.0.0.5:3000", 1)),
				ExpectError: wrapped(`(?s)Plain HTTP refused.*http://10.0.0.5:3000 uses plain HTTP`),
			},
		},
	})
	if refs := f.referrers(t, "team/app", d); len(refs) != 0 {
		t.Fatalf("a refused configuration attached %d attestation(s)", len(refs))
	}
}

// renew_after proposes a fresh attestation when the last is older; until
// then imageguard_verify's max_age refuses the stale one.
func TestAccAttestation_renewAndMaxAge(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/app", "1.2.5-r1")
	image := f.pinned("team/app", d)
	cfg := f.provider() + f.attestation("app", image, f.keyBlock(t)+`
  renew_after = "72h"`)
	clock := &testClock{}
	var first string
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: factories(WithClock(clock.Now)),
		Steps: []resource.TestStep{
			{
				// Signed "200 hours ago", and logged then.
				PreConfig: func() { clock.Set(-200 * time.Hour); f.ss.SetLogClock(clock.Now) },
				Config:    cfg,
				Check: func(s *terraform.State) error {
					first = s.RootModule().Resources["imageguard_attestation.app"].Primary.Attributes["signed_at"]
					return nil
				},
			},
			{
				PreConfig:   func() { clock.Set(0); f.ss.SetLogClock(nil) },
				Config:      cfg + f.verifyVuln(image, "168h"),
				ExpectError: wrapped(`(?s)Image signature not verified.*older than max_age 168h0m0s`),
			},
			{
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_attestation.app", plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue("imageguard_attestation.app", tfjsonpath.New("signed_at")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_attestation.app", "signed_at", knownvalue.StringFunc(func(v string) error {
						at, err := time.Parse(time.RFC3339, v)
						if err != nil || v == first || time.Since(at) > time.Hour {
							return fmt.Errorf("signed_at %q after renewal (first %q)", v, first)
						}
						return nil
					})),
				},
			},
			{
				// Renewed: the newest attestation is recent, and nothing is due.
				Config: cfg + f.verifyVuln(image, "168h"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_attestation.app", plancheck.ResourceActionNoop),
				}},
				ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_verify.x", "passed", knownvalue.Bool(true))},
			},
		},
	})
	if refs := f.referrers(t, "team/app", d); len(refs) != 4 {
		t.Errorf("after one renewal the registry holds %d imageguard attestations, want 4 (the old ones stay for audit)", len(refs))
	}
}

// A CVE published after the attestation fails the next plan, naming when
// it was attested and against which database.
func TestAccAttestation_newCVEFailsThePlan(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/app", "1.2.5-r1")
	cfg := f.provider() + f.attestation("app", f.pinned("team/app", d), f.keyBlock(t))
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				PreConfig:   func() { f.publishDB(t, acctest.FixtureNewAdvisory) },
				Config:      cfg,
				ExpectError: wrapped(`(?s)Attested image: Image has CRITICAL vulnerabilities.*attested 20[0-9-]+T.*against database 2@.*CVE-2026-0001`),
			},
		},
	})
}

func TestAccAttestation_destroy(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	kept := f.push(t, "team/kept", "1.2.5-r1")
	deleted := f.push(t, "team/deleted", "1.2.5-r1")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: f.provider() + f.attestation("kept", f.pinned("team/kept", kept), f.keyBlock(t)) +
				f.attestation("deleted", f.pinned("team/deleted", deleted), f.keyBlock(t)+`
  delete_on_destroy = true`),
			Check: func(*terraform.State) error {
				if n, m := len(f.referrers(t, "team/kept", kept)), len(f.referrers(t, "team/deleted", deleted)); n != 2 || m != 2 {
					return fmt.Errorf("attested %d and %d, want 2 and 2", n, m)
				}
				return nil
			},
		}},
		CheckDestroy: func(*terraform.State) error {
			if n := len(f.referrers(t, "team/kept", kept)); n != 2 {
				return fmt.Errorf("destroy with delete_on_destroy = false left %d attestations, want both (audit)", n)
			}
			if n := len(f.referrers(t, "team/deleted", deleted)); n != 0 {
				return fmt.Errorf("destroy with delete_on_destroy = true left %d attestations", n)
			}
			if n := len(f.reg.Referrers(t, "team/deleted", deleted)); n != 1 {
				return fmt.Errorf("destroy deleted more than its own attestations: %d referrers left, want the signature", n)
			}
			return nil
		},
	})
}

// Debian's docker-registry (distribution 2.8) has no referrers API: the
// attestations go under the sha256-<digest> referrers tag, where
// imageguard_verify (and cosign) find them, and delete cleans the tag up.
func TestAccAttestation_registryWithoutReferrersAPI(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistryWithoutReferrersAPI(t))
	d := f.push(t, "team/app", "1.2.5-r1")
	image := f.pinned("team/app", d)
	cfg := f.provider() + f.attestation("app", image, f.keyBlock(t)+`
  delete_on_destroy = true`)
	tag := "sha256-" + d.Hex
	store := attest.Store{Repository: mustRepo(t, f.reg.Host+"/team/app"), Options: []remote.Option{remote.WithAuth(authn.Anonymous)}}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_attestation.app", "location", knownvalue.StringExact("referrers tag "+tag)),
				},
			},
			{
				Config:            cfg + f.verifyVuln(image, "168h"),
				ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_verify.x", "passed", knownvalue.Bool(true))},
			},
		},
		CheckDestroy: func(*terraform.State) error {
			found, err := store.Find(context.Background(), d, []string{vulnType, verdictType})
			if err != nil || len(found) != 0 {
				return fmt.Errorf("after destroy the referrers tag still lists %+v (%v)", found, err)
			}
			return nil
		},
	})
}

// KMS (hashivault:// against a Vault transit engine served in-process) and
// keyless (Fulcio and Rekor served from the in-memory Sigstore, the OIDC
// token from an environment variable) through the provider, each verified
// by imageguard_verify.
func TestAccAttestation_kmsAndKeyless(t *testing.T) {
	const issuer = "https://token.actions.githubusercontent.com"
	const subject = "https://github.com/acme/api/.github/workflows/attest.yml@refs/heads/main"
	f := newAttestFixture(t, acctest.NewRegistry(t))
	vault := acctest.NewVaultTransit(t, "release", f.key)
	t.Setenv("VAULT_ADDR", vault.URL)
	t.Setenv("VAULT_TOKEN", "test-token")
	fulcio := f.ss.FulcioServer(t)
	t.Setenv("TEST_SIGSTORE_ID_TOKEN", fulcio.Token(t, issuer, subject))
	kmsImage := f.pinned("team/kms", f.push(t, "team/kms", "1.2.5-r1"))
	keylessDigest := f.reg.Push(t, "team/keyless:1", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	keylessImage := f.pinned("team/keyless", keylessDigest)
	id := acctest.Identity{Issuer: issuer, Subject: subject}
	f.reg.SignBundle(t, "team/keyless", keylessDigest, acctest.Signer{Sigstore: f.ss, Identity: id, TLog: true})
	cfg := f.provider() +
		f.attestation("kms", kmsImage, fmt.Sprintf(`
  kms {
    uri = "hashivault://release"
  }
  rekor_url = %q`, f.rekorURL)) +
		f.attestation("keyless", keylessImage, fmt.Sprintf(`
  keyless {
    fulcio_url     = %q
    oidc_token_env = "TEST_SIGSTORE_ID_TOKEN"
  }
  rekor_url = %q`, fulcio.URL, f.rekorURL))
	verifyKeyless := fmt.Sprintf(`
data "imageguard_verify" "keyless" {
  image             = imageguard_attestation.keyless.image
  trusted_root_json = %q
  authority {
    name = "ci"
    keyless {
      issuer  = %q
      subject = %q
    }
  }
  attestation {
    predicate_type = "vuln"
    max_age        = "1h"
  }
}`, f.root, issuer, subject)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				Config: cfg + f.verifyVuln(kmsImage, "1h") + verifyKeyless,
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.keyless", "passed", knownvalue.Bool(true)),
				},
			},
		},
	})
	if vault.Signed.Load() != 2 {
		t.Errorf("Vault signed %d statements, want 2", vault.Signed.Load())
	}
	if fulcio.Issued.Load() != 1 {
		t.Errorf("Fulcio issued %d certificates, want 1 for both predicates", fulcio.Issued.Load())
	}
}

func mustRepo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s, name.WeakValidation)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Settings that change the verdict sign anew; a secret changing (here the
// password moving to COSIGN_PASSWORD) is recorded without signing.
func TestAccAttestation_whatSignsAgain(t *testing.T) {
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/app", "1.2.5-r1")
	image := f.pinned("team/app", d)
	pemText := f.key.CosignPEM(t, testKeyPassword)
	withPassword := func(scan string) string {
		return f.provider() + f.attestation("app", image, fmt.Sprintf(`
  key {
    private_key_pem = %q
    password        = %q
  }
  rekor_url = %q
%s`, pemText, testKeyPassword, f.rekorURL, scan))
	}
	fromEnv := f.provider() + f.attestation("app", image, fmt.Sprintf(`
  key {
    private_key_pem = %q
  }
  rekor_url = %q
  scan {
    severity_threshold = "CRITICAL"
  }`, pemText, f.rekorURL))
	t.Setenv("COSIGN_PASSWORD", testKeyPassword)
	var signedAt string
	keep := func(s *terraform.State) error {
		signedAt = s.RootModule().Resources["imageguard_attestation.app"].Primary.Attributes["signed_at"]
		return nil
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: withPassword(""), Check: keep},
			{
				// A stricter threshold is another verdict: a new attestation.
				PreConfig: func() { time.Sleep(1100 * time.Millisecond) },
				Config: withPassword(`  scan {
    severity_threshold = "CRITICAL"
  }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_attestation.app", plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue("imageguard_attestation.app", tfjsonpath.New("signed_at")),
				}},
				Check: func(s *terraform.State) error {
					before := signedAt
					_ = keep(s)
					if signedAt == before {
						return fmt.Errorf("signed_at stayed %s after a settings change", before)
					}
					return nil
				},
			},
			{
				// Only the password's source changes: recorded, not signed.
				Config: fromEnv,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_attestation.app", plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue("imageguard_attestation.app", tfjsonpath.New("signed_at"), knownvalue.StringFunc(func(v string) error {
						if v != signedAt {
							return fmt.Errorf("signed_at planned %s, want the kept %s", v, signedAt)
						}
						return nil
					})),
				}},
			},
		},
	})
	if refs := f.referrers(t, "team/app", d); len(refs) != 4 {
		t.Errorf("%d imageguard attestations, want 4 (signed twice)", len(refs))
	}
}

// Under scan { enforcement = "warn" } the image is attested with its
// violations: the verdict says passed-with-warnings and the vulnerability
// predicate lists the finding, so an admission policy can still refuse it.
func TestAccAttestation_warnRecordsViolations(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/vulnerable", "1.2.5-r0")
	image := f.pinned("team/vulnerable", d)
	cfg := f.provider() + f.attestation("app", image, f.keyBlock(t)+`
  scan {
    enforcement = "warn"
  }`)
	var digests []string
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_attestation.app", "verdict", knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"result": knownvalue.StringExact("passed-with-warnings"), "violations": knownvalue.Int64Exact(1),
						"findings": knownvalue.MapPartial(map[string]knownvalue.Check{"HIGH": knownvalue.Int64Exact(1)}),
					})),
				},
				Check: func(s *terraform.State) error {
					a := s.RootModule().Resources["imageguard_attestation.app"].Primary.Attributes
					digests = []string{a["attestation_digests.0"], a["attestation_digests.1"]}
					return nil
				},
			},
			{
				// The verdict condition (result == 'passed') refuses it.
				Config:      cfg + f.verifyVuln(image, "168h"),
				ExpectError: wrapped(`(?s)Image signature not verified.*https://imageguard.dev/verdict/v1 present but condition.*is false`),
			},
		},
	})
	raw, err := json.Marshal(f.predicate(t, "team/vulnerable", d, digests[0])["scanner"])
	if err != nil || !strings.Contains(string(raw), "CVE-2025-26519") {
		t.Errorf("the vulnerability predicate does not list the finding the gate let pass: %s", raw)
	}
	verdict, err := json.Marshal(f.predicate(t, "team/vulnerable", d, digests[1]))
	if err != nil || !strings.Contains(string(verdict), `"enforcement":"warn"`) || !strings.Contains(string(verdict), "CVE-2025-26519") {
		t.Errorf("the verdict does not record the warn-mode violation: %s", verdict)
	}
}

// Attestations deleted outside Terraform are noticed at refresh: the plan
// makes them again.
func TestAccAttestation_deletedOutsideIsMadeAgain(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/app", "1.2.5-r1")
	cfg := f.provider() + f.attestation("app", f.pinned("team/app", d), f.keyBlock(t))
	store := attest.Store{Repository: mustRepo(t, f.reg.Host+"/team/app"), Options: []remote.Option{remote.WithAuth(authn.Anonymous)}}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				PreConfig: func() {
					found, err := store.Find(context.Background(), d, []string{vulnType})
					if err != nil || len(found) != 1 {
						t.Fatalf("Find = %+v, %v", found, err)
					}
					if err := store.Delete(context.Background(), d, []v1.Hash{found[0].Digest}); err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_attestation.app", plancheck.ResourceActionCreate),
				}},
			},
		},
	})
	if found, err := store.Find(context.Background(), d, []string{vulnType}); err != nil || len(found) != 1 {
		t.Errorf("after the re-create the vuln attestation is %+v (%v)", found, err)
	}
}

// An index is attested on its digest when every platform was judged (the
// predicate covers each platform); with one platform selected, on that
// platform's manifest, never on the index: a runtime could pull a
// platform nobody judged.
func TestAccAttestation_multiPlatformIndex(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	amd := acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}))
	arm := acctest.Image(acctest.Config{User: "1000", Architecture: "arm64"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}))
	idx := f.reg.PushIndex(t, "team/multi:1", acctest.Index(amd, arm))
	armDigest, err := arm.Digest()
	if err != nil {
		t.Fatal(err)
	}
	f.reg.SignBundle(t, "team/multi", idx, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	image := f.pinned("team/multi", idx)
	key := f.keyBlock(t) // one encryption of the key: another would be a new signer
	var digests []string
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.provider() + f.attestation("all", image, key),
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_attestation.all", "digest", knownvalue.StringExact(idx.String())),
				},
				Check: func(s *terraform.State) error {
					a := s.RootModule().Resources["imageguard_attestation.all"].Primary.Attributes
					digests = []string{a["attestation_digests.0"], a["attestation_digests.1"]}
					return nil
				},
			},
			{
				Config:            f.provider() + f.attestation("all", image, key) + f.verifyVuln(image, "168h"),
				ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_verify.x", "passed", knownvalue.Bool(true))},
			},
			{
				Config: f.provider() + f.attestation("all", image, key) + f.attestation("arm", image, key+`
  platforms = ["linux/arm64"]`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_attestation.arm", "id", knownvalue.StringExact(f.pinned("team/multi", armDigest))),
					check("imageguard_attestation.arm", "digest", knownvalue.StringExact(armDigest.String())),
				},
			},
		},
	})
	raw, err := json.Marshal(f.predicate(t, "team/multi", idx, digests[0])["scanner"])
	if err != nil || !strings.Contains(string(raw), "(linux/amd64)") || !strings.Contains(string(raw), "(linux/arm64)") {
		t.Errorf("the index's vulnerability predicate does not cover both platforms: %s", raw)
	}
	if n := len(f.referrers(t, "team/multi", idx)); n != 2 {
		t.Errorf("%d imageguard attestations on the index, want 2 (the arm64-only ones belong to the arm64 manifest)", n)
	}
	if n := len(f.referrers(t, "team/multi", armDigest)); n != 2 {
		t.Errorf("%d imageguard attestations on the arm64 manifest, want 2", n)
	}
}

// Write-only secrets (Terraform 1.11+) sign but are never stored: the
// private key, its password and the OIDC token are null in state and
// nowhere in it; a new `…_wo_version` signs anew, the same version does
// not. Control: the same key given as private_key_pem is in state (marked
// sensitive), so the search for the secret's text can find it.
func TestAccAttestation_writeOnlySecrets(t *testing.T) {
	t.Parallel()
	const issuer = "https://token.actions.githubusercontent.com"
	const subject = "https://github.com/acme/api/.github/workflows/attest.yml@refs/heads/main"
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/app", "1.2.5-r1")
	image := f.pinned("team/app", d)
	fulcio := f.ss.FulcioServer(t)
	token := fulcio.Token(t, issuer, subject)
	keylessDigest := f.reg.Push(t, "team/keyless:1", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	f.reg.SignBundle(t, "team/keyless", keylessDigest, acctest.Signer{Sigstore: f.ss, Identity: acctest.Identity{Issuer: issuer, Subject: subject}, TLog: true})
	pemText := f.key.CosignPEM(t, testKeyPassword)
	pemLine := strings.Split(pemText, "\n")[1] // a line of the encrypted key's base64
	writeOnly := func(version int) string {
		return f.provider() + f.attestation("app", image, fmt.Sprintf(`
  key {
    private_key_pem_wo         = %q
    private_key_pem_wo_version = %d
    password_wo                = %q
    password_wo_version        = 1
  }
  rekor_url = %q`, pemText, version, testKeyPassword, f.rekorURL)) + f.attestation("keyless", f.pinned("team/keyless", keylessDigest), fmt.Sprintf(`
  keyless {
    fulcio_url            = %q
    oidc_token_wo         = %q
    oidc_token_wo_version = 1
  }
  rekor_url = %q`, fulcio.URL, token, f.rekorURL))
	}
	secretsIn := func(s *terraform.State) []string {
		var found []string
		for addr, rs := range s.RootModule().Resources {
			for k, v := range rs.Primary.Attributes {
				for _, secret := range []string{pemLine, testKeyPassword, token} {
					if strings.Contains(v, secret) {
						found = append(found, addr+"."+k)
					}
				}
			}
		}
		return found
	}
	noSecretInState := func(s *terraform.State) error {
		if found := secretsIn(s); len(found) > 0 {
			return fmt.Errorf("a write-only secret is in state at %v", found)
		}
		return nil
	}
	if cli := acctest.DetectCLI(t, acctest.TerraformPath(t)); !cli.HasWriteOnlyAttributes() {
		// Older CLIs refuse a write-only value outright (the docs send their
		// users to the environment-variable path): nothing is signed.
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps: []resource.TestStep{{
				Config:      writeOnly(1),
				ExpectError: regexp.MustCompile(`(?s)WriteOnly Attribute Not Allowed.*1\.11 and later`),
			}},
		})
		t.Logf("%s has no write-only attributes: it refuses them, as checked; the rest needs Terraform or OpenTofu >= 1.11", cli)
		return
	}
	var signedAt string
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: writeOnly(1),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("imageguard_attestation.app", tfjsonpath.New("key").AtMapKey("private_key_pem_wo"), knownvalue.Null()),
					statecheck.ExpectKnownValue("imageguard_attestation.app", tfjsonpath.New("key").AtMapKey("password_wo"), knownvalue.Null()),
					statecheck.ExpectKnownValue("imageguard_attestation.app", tfjsonpath.New("key").AtMapKey("private_key_pem_wo_version"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue("imageguard_attestation.keyless", tfjsonpath.New("keyless").AtMapKey("oidc_token_wo"), knownvalue.Null()),
					check("imageguard_attestation.app", "attestation_digests", knownvalue.ListSizeExact(2)),
					check("imageguard_attestation.keyless", "attestation_digests", knownvalue.ListSizeExact(2)),
				},
				Check: func(s *terraform.State) error {
					signedAt = s.RootModule().Resources["imageguard_attestation.app"].Primary.Attributes["signed_at"]
					return noSecretInState(s)
				},
			},
			{
				// The same secrets and versions: nothing to sign.
				Config: writeOnly(1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_attestation.app", plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction("imageguard_attestation.keyless", plancheck.ResourceActionNoop),
				}},
			},
			{
				// A new key version signs anew (Terraform cannot see the value).
				PreConfig: func() { time.Sleep(1100 * time.Millisecond) },
				Config:    writeOnly(2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_attestation.app", plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue("imageguard_attestation.app", tfjsonpath.New("signed_at")),
					plancheck.ExpectResourceAction("imageguard_attestation.keyless", plancheck.ResourceActionNoop),
				}},
				Check: func(s *terraform.State) error {
					if now := s.RootModule().Resources["imageguard_attestation.app"].Primary.Attributes["signed_at"]; now == signedAt {
						return fmt.Errorf("signed_at stayed %s after private_key_pem_wo_version changed", now)
					}
					return noSecretInState(s)
				},
			},
			{
				// Control: the stored form is in state, and the search finds it.
				Config: f.provider() + f.attestation("app", image, f.keyBlock(t)),
				Check: func(s *terraform.State) error {
					if found := secretsIn(s); len(found) == 0 {
						return fmt.Errorf("the control's private_key_pem and password are not found in state: the search cannot fail")
					}
					return nil
				},
			},
		},
	})
	if fulcio.Issued.Load() != 1 {
		t.Errorf("Fulcio issued %d certificates, want 1 (the keyless attestation signed once)", fulcio.Issued.Load())
	}
}

// A write-only secret goes instead of its stored or environment form, and
// its version needs it.
func TestAccAttestation_writeOnlyInvalid(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/app", "1.2.5-r1")
	image := f.pinned("team/app", d)
	pemText := f.key.CosignPEM(t, testKeyPassword)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.provider() + f.attestation("app", image, fmt.Sprintf(`
  key {
    private_key_pem    = %q
    private_key_pem_wo = %q
  }`, pemText, pemText)),
				ExpectError: wrapped(`(?s)Invalid Attribute Combination.*private_key_pem`),
			},
			{
				Config: f.provider() + f.attestation("app", image, fmt.Sprintf(`
  key {
    private_key_pem_wo = %q
    private_key_env    = "COSIGN_PRIVATE_KEY"
  }`, pemText)),
				ExpectError: wrapped(`(?s)Invalid Attribute Combination.*private_key_env`),
			},
			{
				Config: f.provider() + f.attestation("app", image, fmt.Sprintf(`
  key {
    private_key_pem_wo  = %q
    password            = "x"
    password_wo         = "y"
  }`, pemText)),
				ExpectError: wrapped(`(?s)Invalid Attribute Combination.*password`),
			},
			{
				Config: f.provider() + f.attestation("app", image, fmt.Sprintf(`
  key {
    private_key_pem_wo  = %q
    password_wo_version = 1
  }`, pemText)),
				ExpectError: wrapped(`(?s)Invalid Attribute Combination.*password_wo`),
			},
			{
				Config: f.provider() + f.attestation("app", image, `
  keyless {
    oidc_token_wo  = "x"
    oidc_token_env = "SIGSTORE_ID_TOKEN"
  }`),
				ExpectError: wrapped(`(?s)Invalid Attribute Combination.*oidc_token_env`),
			},
			{
				Config: f.provider() + f.attestation("app", image, `
  key {
    password_wo = "x"
  }`),
				ExpectError: wrapped(`(?s)Key needs private_key_pem, private_key_pem_wo or private_key_env`),
			},
		},
	})
	if refs := f.referrers(t, "team/app", d); len(refs) != 0 {
		t.Fatalf("a refused configuration attached %d attestation(s)", len(refs))
	}
}

// State written before the write-only attributes existed (the previous
// release's `key` and `keyless` blocks, schema version 0) still decodes:
// the new attributes read as null, nothing else changes. Control: a state
// whose `key` holds an attribute this schema does not know is refused, so
// the decoding is strict enough to fail.
func TestAttestationStateWithoutWriteOnlyAttributes(t *testing.T) {
	t.Parallel()
	server, err := protoV6Factories["imageguard"]()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Prime the server's schemas, as Terraform does first.
	if _, err := server.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{}); err != nil {
		t.Fatal(err)
	}
	old := func(key string) string {
		return `{"id":"r.example/team/app@sha256:` + strings.Repeat("a", 64) + `","image":"r.example/team/app@sha256:` + strings.Repeat("a", 64) + `",` +
			`"platforms":null,"scan":null,"verify":null,"policy":null,"kms":null,"keyless":null,` +
			`"key":` + key + `,"tlog_upload":true,"rekor_url":"https://rekor.example","renew_after":null,"delete_on_destroy":false,` +
			`"digest":"sha256:` + strings.Repeat("a", 64) + `","attestation_digests":["sha256:` + strings.Repeat("b", 64) + `"],` +
			`"predicate_types":["` + vulnType + `"],"location":"referrers API","signed_at":"2026-01-01T00:00:00Z","verdict":null}`
	}
	upgrade := func(raw string) (*tfprotov6.UpgradeResourceStateResponse, error) {
		return server.UpgradeResourceState(ctx, &tfprotov6.UpgradeResourceStateRequest{TypeName: "imageguard_attestation", Version: 0, RawState: &tfprotov6.RawState{JSON: []byte(raw)}})
	}
	resp, err := upgrade(old(`{"private_key_pem":null,"private_key_env":"COSIGN_PRIVATE_KEY","password":null}`))
	if err != nil || len(resp.Diagnostics) > 0 {
		t.Fatalf("the previous release's state does not decode: %v %+v", err, resp.Diagnostics)
	}
	typ := attestationStateType(t, server)
	v, err := resp.UpgradedState.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]tftypes.Value
	if err := v.As(&attrs); err != nil {
		t.Fatal(err)
	}
	var key map[string]tftypes.Value
	if err := attrs["key"].As(&key); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"private_key_pem_wo", "private_key_pem_wo_version", "password_wo", "password_wo_version"} {
		if !key[a].IsNull() {
			t.Errorf("key.%s = %v after decoding old state, want null", a, key[a])
		}
	}
	if env := key["private_key_env"]; !env.Equal(tftypes.NewValue(tftypes.String, "COSIGN_PRIVATE_KEY")) {
		t.Errorf("key.private_key_env = %v, want it kept", env)
	}
	resp, err = upgrade(old(`{"private_key_pem":null,"private_key_env":"X","password":null,"no_such_attribute":"x"}`))
	if err == nil && len(resp.Diagnostics) == 0 {
		t.Error("a state with an unknown attribute in key decoded: the check above cannot fail")
	}
}

// attestationStateType is imageguard_attestation's state type, from the
// server's schema.
func attestationStateType(t *testing.T, server tfprotov6.ProviderServer) tftypes.Type {
	t.Helper()
	ps, err := server.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return ps.ResourceSchemas["imageguard_attestation"].ValueType()
}

// Import adopts an attestation only once the configured key verifies it:
// anyone with push access can attach a newer bundle at the digest. The
// control imports the resource's own attestations (import block, so the
// plan that adopts them runs); then an attacker attaches newer ones,
// signed by another key, and the same import fails naming them.
func TestAccAttestation_importChecksTheSigner(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/app", "1.2.5-r1")
	image := f.pinned("team/app", d)
	cfg := f.provider() + f.attestation("app", image, f.keyBlock(t))
	var rogue []string
	attackerAttaches := func() {
		ctx := context.Background()
		repo := mustRepo(t, f.reg.Host+"/team/app")
		desc, err := remote.Head(repo.Digest(d.String()), remote.WithAuth(authn.Anonymous))
		if err != nil {
			t.Fatal(err)
		}
		other := acctest.NewKeyPair(t)
		s, err := attest.NewSigner(ctx, attest.SignerOptions{PrivateKeyPEM: []byte(other.CosignPEM(t, "x")), Password: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var bs []attest.Bundle
		for _, pt := range []string{vulnType, verdictType} {
			st, err := attest.Statement(attest.Subject{Name: repo.Name(), Digest: d}, pt, map[string]any{"result": "passed", "enforcement": "error"})
			if err != nil {
				t.Fatal(err)
			}
			signed, err := s.Sign(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, attest.Bundle{JSON: signed.Bundle, PredicateType: pt})
		}
		store := attest.Store{Repository: repo, Options: []remote.Option{remote.WithAuth(authn.Anonymous)}}
		attached, err := store.AttachAll(ctx, *desc, bs, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range attached {
			rogue = append(rogue, a.Digest.String())
		}
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				// Control: its own attestations, verified and adopted.
				Config: cfg, ResourceName: "imageguard_attestation.app", ImportState: true, ImportStateId: image,
				ImportStateKind: resource.ImportBlockWithID, ExpectNonEmptyPlan: true,
			},
			{
				PreConfig: attackerAttaches,
				Config:    cfg, ResourceName: "imageguard_attestation.app", ImportState: true, ImportStateId: image,
				ImportStateKind: resource.ImportBlockWithID, ExpectNonEmptyPlan: true,
				ExpectError: wrapped(`(?s)Imported attestation not signed by this signer.*` + regexp.QuoteMeta(d.String()) + `.*does not verify with this key`),
			},
		},
	})
	if len(rogue) != 2 {
		t.Fatalf("the attacker attached %d bundles, want 2", len(rogue))
	}
}

// A verdict signed under scan { enforcement = "warn" } says so even when
// nothing was found, so a verifier that trusts only enforcing verdicts
// (the condition the plan-to-admission guide gives) refuses it; the
// control, signed under "error", passes the same condition. Before the
// verdict had `enforcement`, both said result "passed" and both passed.
func TestAccAttestation_warnVerdictIsRefusedByAnEnforcingPolicy(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	warned := f.pinned("team/warned", f.push(t, "team/warned", "1.2.5-r1"))
	enforced := f.pinned("team/enforced", f.push(t, "team/enforced", "1.2.5-r1"))
	key := f.keyBlock(t)
	cfg := f.provider() + f.attestation("warned", warned, key+`
  scan {
    enforcement = "warn"
  }`) + f.attestation("enforced", enforced, key)
	enforcing := func(name, image string) string {
		return fmt.Sprintf(`
data "imageguard_verify" %q {
  image             = %q
  trusted_root_json = %q
  authority {
    name = "release"
    key {
      public_key_pem = %q
    }
  }
  attestation {
    predicate_type = %q
    condition      = "predicate.enforcement == 'error' && predicate.result == 'passed'"
  }
}
`, name, image, f.root, f.key.PublicKeyPEM, verdictType)
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_attestation.warned", "verdict", knownvalue.ObjectPartial(map[string]knownvalue.Check{"result": knownvalue.StringExact("passed")})),
				},
			},
			{
				Config:            cfg + enforcing("enforced", enforced),
				ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_verify.enforced", "passed", knownvalue.Bool(true))},
			},
			{
				Config:      cfg + enforcing("warned", warned),
				ExpectError: wrapped(`(?s)Image signature not verified.*https://imageguard.dev/verdict/v1 present but condition.*is false`),
			},
		},
	})
}

// What a team accepted with an `ignore` is in the signed vulnerability
// predicate (ExperimentalModifiedFindings, with reason and expiry), so an
// org-wide policy can refuse it; the control policy (no CRITICAL, a passed
// verdict) accepts the same attestation. Before, the ignored finding was
// left out of the predicate and no policy could see it.
func TestAccAttestation_acceptedFindingsAreSigned(t *testing.T) {
	t.Parallel()
	f := newAttestFixture(t, acctest.NewRegistry(t))
	d := f.push(t, "team/accepted", "1.2.5-r0")
	image := f.pinned("team/accepted", d)
	cfg := f.provider() + f.attestation("app", image, f.keyBlock(t)+`
  scan {
    ignore {
      id      = "CVE-2025-26519"
      reason  = "no TLS server in this image"
      expires = "2027-01-31"
    }
  }`)
	orgPolicy := fmt.Sprintf(`
data "imageguard_verify" "org" {
  image             = %q
  trusted_root_json = %q
  authority {
    name = "release"
    key {
      public_key_pem = %q
    }
  }
  attestation {
    predicate_type = "vuln"
    condition      = "predicate.scanner.result.Results.all(r, !('ExperimentalModifiedFindings' in r) || r.ExperimentalModifiedFindings.all(m, m.Finding.Severity != 'HIGH'))"
  }
}
`, image, f.root, f.key.PublicKeyPEM)
	var digests []string
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_attestation.app", "verdict", knownvalue.ObjectPartial(map[string]knownvalue.Check{"result": knownvalue.StringExact("passed"), "ignored": knownvalue.Int64Exact(1)})),
				},
				Check: func(s *terraform.State) error {
					a := s.RootModule().Resources["imageguard_attestation.app"].Primary.Attributes
					digests = []string{a["attestation_digests.0"], a["attestation_digests.1"]}
					return nil
				},
			},
			{
				Config:            cfg + f.verifyVuln(image, "168h"),
				ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_verify.x", "passed", knownvalue.Bool(true))},
			},
			{
				Config:      cfg + orgPolicy,
				ExpectError: wrapped(`(?s)Image signature not verified.*vuln/v1 present but condition.*is false`),
			},
		},
	})
	scanner, ok := f.predicate(t, "team/accepted", d, digests[0])["scanner"].(map[string]any)
	if !ok {
		t.Fatal("no scanner in the vulnerability predicate")
	}
	raw, err := json.Marshal(scanner["result"])
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []struct {
			Vulnerabilities []struct{ VulnerabilityID string }
			Modified        []struct {
				Status, Statement, Source string
				Finding                   struct{ VulnerabilityID, ExpiresAt string }
			} `json:"ExperimentalModifiedFindings"`
		}
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, r := range rep.Results {
		for _, v := range r.Vulnerabilities {
			if v.VulnerabilityID == "CVE-2025-26519" {
				t.Errorf("the accepted finding is counted in the predicate's vulnerabilities")
			}
		}
		for _, m := range r.Modified {
			found = append(found, strings.Join([]string{m.Finding.VulnerabilityID, m.Status, m.Statement, m.Source, m.Finding.ExpiresAt}, " | "))
		}
	}
	want := []string{"CVE-2025-26519 | ignored | ignore: no TLS server in this image (until 2027-01-31) | imageguard ignore | 2027-01-31"}
	if strings.Join(found, "\n") != strings.Join(want, "\n") {
		t.Errorf("suppressed findings in the signed predicate:\n%s\nwant\n%s", strings.Join(found, "\n"), strings.Join(want, "\n"))
	}
}

// A keyless signer has no long-lived key to check an imported attestation
// against: the import plan signs a new one instead of adopting what it
// found (signed_at unknown), never adopting unchecked.
func TestAccAttestation_keylessImportSignsAnew(t *testing.T) {
	const issuer = "https://token.actions.githubusercontent.com"
	const subject = "https://github.com/acme/api/.github/workflows/attest.yml@refs/heads/main"
	f := newAttestFixture(t, acctest.NewRegistry(t))
	fulcio := f.ss.FulcioServer(t)
	t.Setenv("TEST_SIGSTORE_ID_TOKEN", fulcio.Token(t, issuer, subject))
	d := f.reg.Push(t, "team/keyless:1", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	f.reg.SignBundle(t, "team/keyless", d, acctest.Signer{Sigstore: f.ss, Identity: acctest.Identity{Issuer: issuer, Subject: subject}, TLog: true})
	image := f.pinned("team/keyless", d)
	cfg := f.provider() + f.attestation("keyless", image, fmt.Sprintf(`
  keyless {
    fulcio_url     = %q
    oidc_token_env = "TEST_SIGSTORE_ID_TOKEN"
  }
  rekor_url = %q`, fulcio.URL, f.rekorURL))
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				Config: cfg, ResourceName: "imageguard_attestation.keyless", ImportState: true, ImportStateId: image,
				ImportStateKind: resource.ImportBlockWithID, ExpectNonEmptyPlan: true,
				ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectUnknownValue("imageguard_attestation.keyless", tfjsonpath.New("signed_at")),
					plancheck.ExpectUnknownValue("imageguard_attestation.keyless", tfjsonpath.New("attestation_digests")),
				}},
			},
		},
	})
}

// A version 0 state with a scan block (written before `unknown_severity`
// existed) upgrades with it null, its documented default ("fail").
func TestAttestationStateV0ScanBlockUpgrades(t *testing.T) {
	t.Parallel()
	server, err := protoV6Factories["imageguard"]()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := server.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{}); err != nil {
		t.Fatal(err)
	}
	raw := `{"id":"r.example/team/app@sha256:` + strings.Repeat("a", 64) + `","image":"r.example/team/app@sha256:` + strings.Repeat("a", 64) + `",` +
		`"platforms":null,"scan":{"severity_threshold":"CRITICAL","ignore_unfixed":true,"scanners":null,"pkg_types":null,"vex":null,"enforcement":null,` +
		`"ignore":[{"id":"CVE-2025-26519","reason":"not reachable","expires":"2027-01-31","packages":null}]},"verify":null,"policy":null,"kms":null,"keyless":null,` +
		`"key":{"private_key_pem":null,"private_key_env":"COSIGN_PRIVATE_KEY","password":null},"tlog_upload":true,"rekor_url":"https://rekor.example","renew_after":null,"delete_on_destroy":false,` +
		`"digest":"sha256:` + strings.Repeat("a", 64) + `","attestation_digests":["sha256:` + strings.Repeat("b", 64) + `"],` +
		`"predicate_types":["` + vulnType + `"],"location":"referrers API","signed_at":"2026-01-01T00:00:00Z","verdict":null}`
	resp, err := server.UpgradeResourceState(ctx, &tfprotov6.UpgradeResourceStateRequest{TypeName: "imageguard_attestation", Version: 0, RawState: &tfprotov6.RawState{JSON: []byte(raw)}})
	if err != nil || len(resp.Diagnostics) > 0 {
		t.Fatalf("the version 0 state does not upgrade: %v %+v", err, resp.Diagnostics)
	}
	v, err := resp.UpgradedState.Unmarshal(attestationStateType(t, server))
	if err != nil {
		t.Fatal(err)
	}
	var attrs, scan map[string]tftypes.Value
	if err := v.As(&attrs); err != nil {
		t.Fatal(err)
	}
	if err := attrs["scan"].As(&scan); err != nil {
		t.Fatal(err)
	}
	if !scan["unknown_severity"].IsNull() {
		t.Errorf("scan.unknown_severity = %v, want null", scan["unknown_severity"])
	}
	if !scan["severity_threshold"].Equal(tftypes.NewValue(tftypes.String, "CRITICAL")) {
		t.Errorf("scan.severity_threshold = %v, want it kept", scan["severity_threshold"])
	}
}

package provider

import (
	"fmt"
	"regexp"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

const (
	ghIssuer  = "https://token.actions.githubusercontent.com"
	ghSubject = "https://github.com/acme/api/.github/workflows/release.yml@refs/tags/v1.4.2"
	slsaV1    = "https://slsa.dev/provenance/v1"
)

type verifyFixture struct {
	reg  *acctest.Registry
	ss   *acctest.Sigstore
	key  *acctest.KeyPair
	root string
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	t.Helper()
	f := &verifyFixture{reg: acctest.NewRegistry(t), ss: acctest.NewSigstore(t), key: acctest.NewKeyPair(t)}
	f.root = f.ss.TrustedRootJSON(t)
	return f
}

func (f *verifyFixture) push(t *testing.T, repoTag, user string) v1.Hash {
	return f.reg.Push(t, repoTag, acctest.Image(acctest.Config{User: user}, acctest.AlpineLayer("3.23.2")))
}

func (f *verifyFixture) keyAuthority(name string, key *acctest.KeyPair) string {
	return fmt.Sprintf(`
  authority {
    name = %q
    key {
      public_key_pem = %q
    }
  }`, name, key.PublicKeyPEM)
}

func (f *verifyFixture) config(image, body string) string {
	return fmt.Sprintf(`
data "imageguard_verify" "x" {
  image             = %q
  trusted_root_json = %q
%s
}`, image, f.root, body)
}

func ciIdentity() acctest.Identity {
	return acctest.Identity{Issuer: ghIssuer, Subject: ghSubject, GitHubWorkflowRepository: "acme/api", GitHubWorkflowTrigger: "push", GitHubWorkflowRef: "refs/tags/v1.4.2"}
}

func TestAccVerify_keyAndKeyless(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	signedKey := f.push(t, "team/keyed:1", "a")
	f.reg.SignBundle(t, "team/keyed", signedKey, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	legacy := f.push(t, "team/legacy:1", "b")
	f.reg.SignLegacy(t, "team/legacy", legacy, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	keyless := f.push(t, "team/keyless:1", "c")
	f.reg.SignBundle(t, "team/keyless", keyless, acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), TLog: true, Timestamp: true})
	f.reg.AttestBundle(t, "team/keyless", keyless, acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), TLog: true, Timestamp: true}, slsaV1,
		map[string]any{"buildDefinition": map[string]any{"externalParameters": map[string]any{"workflow": map[string]any{"repository": "https://github.com/acme/api"}}}})

	keylessAuthority := fmt.Sprintf(`
  authority {
    name = "release"
    keyless {
      issuer                     = %q
      subject_regexp             = "^https://github\\.com/acme/api/\\.github/workflows/release\\.yml@refs/tags/v.*"
      github_workflow_repository = "acme/api"
    }
  }`, ghIssuer)

	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.config(f.reg.Ref("team/keyed:1"), f.keyAuthority("ci", f.key)),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "pinned", knownvalue.StringExact(f.reg.Host+"/team/keyed@"+signedKey.String())),
					check("data.imageguard_verify.x", "signatures", knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"authority": knownvalue.StringExact("ci"), "format": knownvalue.StringExact("bundle"), "tlog_index": knownvalue.NotNull(),
						"location": knownvalue.StringRegexp(regexp.MustCompile("referrers API")),
					})})),
				},
			},
			{
				Config: f.config(f.reg.Ref("team/legacy:1"), f.keyAuthority("ci", f.key)),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "signatures", knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"format": knownvalue.StringExact("legacy"), "location": knownvalue.StringRegexp(regexp.MustCompile(`\.sig`)),
					})})),
				},
			},
			{
				Config: f.config(f.reg.Ref("team/keyless:1"), keylessAuthority+`
  attestation {
    predicate_type = "slsaprovenance1"
    condition      = "predicate.buildDefinition.externalParameters.workflow.repository == \"https://github.com/acme/api\""
  }`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "signatures", knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"issuer": knownvalue.StringExact(ghIssuer), "subject": knownvalue.StringExact(ghSubject),
					})})),
					check("data.imageguard_verify.x", "attestations", knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"predicate_type": knownvalue.StringExact(slsaV1), "authority": knownvalue.StringExact("release"),
					})})),
				},
			},
			{
				// CEL condition false: the plan fails and shows the expression.
				Config: f.config(f.reg.Ref("team/keyless:1"), keylessAuthority+`
  attestation {
    predicate_type = "slsaprovenance1"
    condition      = "predicate.buildDefinition.externalParameters.workflow.repository == \"https://github.com/evil/api\""
  }`),
				ExpectError: wrapped(`(?s)Image signature not verified.*authority "release" did not verify: attestation of type https://slsa.dev/provenance/v1 present but condition .*evil/api.* is false`),
			},
		},
	})
}

func TestAccVerify_failures(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	unsigned := f.push(t, "team/unsigned:1", "u")
	signed := f.push(t, "team/signed:1", "s")
	f.reg.SignBundle(t, "team/signed", signed, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	other := f.push(t, "team/other:1", "o")
	// A valid signature of another image, copied onto this one.
	copied := f.push(t, "team/copied:1", "c")
	f.reg.SignBundle(t, "team/copied", copied, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, Covers: other})
	keylessWrongID := f.push(t, "team/wrongid:1", "w")
	f.reg.SignBundle(t, "team/wrongid", keylessWrongID, acctest.Signer{Sigstore: f.ss, Identity: acctest.Identity{Issuer: ghIssuer, Subject: "https://github.com/evil/api/.github/workflows/x.yml@refs/heads/main"}, TLog: true})
	wrongKey := acctest.NewKeyPair(t)
	_ = unsigned

	cases := []struct{ name, config, want string }{
		{"unsigned: says where it looked", f.config(f.reg.Ref("team/unsigned:1"), f.keyAuthority("ci", f.key)),
			`(?s)Image signature not verified.*` + unsigned.String()[:19] + `.*authority "ci" did not verify: no signature found \(looked in: .*referrers API.*sha256-.*\.sig`},
		{"wrong key", f.config(f.reg.Ref("team/signed:1"), f.keyAuthority("ci", wrongKey)),
			`(?s)authority "ci" did not verify: .*public key`},
		{"copied signature: payload digest mismatch", f.config(f.reg.Ref("team/copied:1"), f.keyAuthority("ci", f.key)),
			`(?s)authority "ci" did not verify: .*` + other.String()[:19]},
		{"identity mismatch shows found and required", f.config(f.reg.Ref("team/wrongid:1"), fmt.Sprintf(`
  authority {
    name = "release"
    keyless {
      issuer  = %q
      subject = %q
    }
  }`, ghIssuer, ghSubject)), `(?s)identity mismatch.*evil/api.*acme/api`},
		{"invalid CEL is an attribute error at plan", f.config(f.reg.Ref("team/signed:1"), f.keyAuthority("ci", f.key)+`
  attestation {
    predicate_type = "slsaprovenance1"
    condition      = "predicate.a =="
  }`), `(?s)Invalid CEL condition.*predicate.a ==`},
		{"no authority", f.config(f.reg.Ref("team/signed:1"), ""), `(?s)No authority`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				PreCheck:                 preCheck(t),
				ProtoV6ProviderFactories: protoV6Factories,
				Steps:                    []resource.TestStep{{Config: tc.config, ExpectError: wrapped(tc.want)}},
			})
		})
	}
	t.Run("require any and warn", func(t *testing.T) {
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps: []resource.TestStep{
				{
					Config: f.config(f.reg.Ref("team/signed:1"), f.keyAuthority("ci", f.key)+f.keyAuthority("other", wrongKey)+`
  require = "any"`),
					ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_verify.x", "passed", knownvalue.Bool(true))},
				},
				{
					Config: f.config(f.reg.Ref("team/unsigned:1"), f.keyAuthority("ci", f.key)+`
  enforcement = "warn"`),
					ConfigStateChecks: []statecheck.StateCheck{
						check("data.imageguard_verify.x", "passed", knownvalue.Bool(false)),
						check("data.imageguard_verify.x", "pinned", knownvalue.NotNull()),
						check("data.imageguard_verify.x", "violations", knownvalue.ListSizeExact(1)),
					},
				},
			},
		})
	})
	t.Run("require all fails when one authority fails", func(t *testing.T) {
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps: []resource.TestStep{{
				Config:      f.config(f.reg.Ref("team/signed:1"), f.keyAuthority("ci", f.key)+f.keyAuthority("other", wrongKey)),
				ExpectError: wrapped(`(?s)authority "other" did not verify`),
			}},
		})
	})
}

func TestAccVerify_multiArchAndTagFallback(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	noAPI := acctest.NewRegistryWithoutReferrersAPI(t)
	idx := noAPI.PushIndex(t, "team/multi:1", acctest.Index(
		acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2")),
		acctest.Image(acctest.Config{Architecture: "arm64"}, acctest.AlpineLayer("3.23.2")),
	))
	noAPI.SignBundle(t, "team/multi", idx, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: f.config(noAPI.Ref("team/multi:1"), f.keyAuthority("ci", f.key)),
			ConfigStateChecks: []statecheck.StateCheck{
				check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
				check("data.imageguard_verify.x", "digest", knownvalue.StringExact(idx.String())),
				check("data.imageguard_verify.x", "signatures", knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectPartial(map[string]knownvalue.Check{
					"location": knownvalue.StringRegexp(regexp.MustCompile(`referrers tag sha256-`)),
				})})),
			},
		}},
	})
}

// Dynamic authority and attestation blocks are unknown while terraform
// validates: validation waits for the read instead of failing.
func TestAccVerify_dynamicBlocks(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	d := f.push(t, "team/dyn:1", "d")
	f.reg.SignBundle(t, "team/dyn", d, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
variable "keys" {
  type    = map(string)
  default = { ci = %q }
}
data "imageguard_verify" "x" {
  image             = %q
  trusted_root_json = %q
  dynamic "authority" {
    for_each = var.keys
    content {
      name = authority.key
      key {
        public_key_pem = authority.value
      }
    }
  }
}`, f.key.PublicKeyPEM, f.reg.Ref("team/dyn:1"), f.root),
			ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_verify.x", "passed", knownvalue.Bool(true))},
		}},
	})
}

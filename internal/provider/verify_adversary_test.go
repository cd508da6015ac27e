package provider

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// The attacker's side of imageguard_verify through terraform: an identity
// that merely contains the pattern, and an attestation whose predicate
// claims to be fresher than the log says. Controls beside each.
func TestAccVerify_adversary(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	const acmeIssuer = "https://accounts.acme.com"
	evil := f.push(t, "team/evil:1", "e")
	f.reg.SignBundle(t, "team/evil", evil, acctest.Signer{Sigstore: f.ss, Identity: acctest.Identity{Issuer: acmeIssuer + ".evil.io", Subject: "alice@acme.com.evil.io"}, TLog: true})
	alice := f.push(t, "team/alice:1", "a")
	f.reg.SignBundle(t, "team/alice", alice, acctest.Signer{Sigstore: f.ss, Identity: acctest.Identity{Issuer: acmeIssuer, Subject: "alice@acme.com"}, TLog: true})

	now := time.Now().UTC().Truncate(time.Second)
	scan := func(at time.Time) map[string]any {
		return map[string]any{"scanner": map[string]any{"result": map[string]any{}}, "metadata": map[string]any{
			"scanStartedOn": at.Add(-time.Second).Format(time.RFC3339), "scanFinishedOn": at.Format(time.RFC3339)}}
	}
	// Logged 20 hours ago, its predicate dated an hour ago.
	backdated := f.push(t, "team/backdated:1", "b")
	old := acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, LogTime: now.Add(-20 * time.Hour)}
	f.reg.SignBundle(t, "team/backdated", backdated, old)
	f.reg.AttestBundle(t, "team/backdated", backdated, old, policy.VulnPredicateType, scan(now.Add(-time.Hour)))
	fresh := f.push(t, "team/fresh:1", "f")
	recent := acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, LogTime: now.Add(-time.Hour)}
	f.reg.SignBundle(t, "team/fresh", fresh, recent)
	f.reg.AttestBundle(t, "team/fresh", fresh, recent, policy.VulnPredicateType, scan(now.Add(-time.Hour-time.Minute)))

	keyless := func(attr, issuerOrPattern, subjectAttr, subject string) string {
		return fmt.Sprintf(`
  authority {
    name = "alice"
    keyless {
      %s = %q
      %s = %q
    }
  }`, attr, issuerOrPattern, subjectAttr, subject)
	}
	maxAge := f.keyAuthority("ci", f.key) + `
  attestation {
    predicate_type = "vuln"
    max_age        = "12h"
  }`
	for _, tc := range []struct{ name, config, want string }{
		{"subject_regexp alice@acme\\.com against alice@acme.com.evil.io → refused",
			f.config(f.reg.Ref("team/evil:1"), keyless("issuer_regexp", `.*`, "subject_regexp", `alice@acme\.com`)),
			`(?s)identity mismatch.*subject alice@acme\.com\.evil\.io.*subject_regexp matches only part of the subject`},
		{"issuer_regexp https://accounts\\.acme\\.com against https://accounts.acme.com.evil.io → refused",
			f.config(f.reg.Ref("team/evil:1"), keyless("issuer_regexp", `https://accounts\.acme\.com`, "subject_regexp", `.*`)),
			`(?s)identity mismatch.*issuer_regexp matches only part of the issuer`},
		{"vuln attestation logged 20h ago whose scan says 1h ago, max_age 12h → refused",
			f.config(f.reg.Ref("team/backdated:1"), maxAge), `(?s)its predicate says it was made at.*after its signature was logged`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				PreCheck:                 preCheck(t),
				ProtoV6ProviderFactories: protoV6Factories,
				Steps:                    []resource.TestStep{{Config: tc.config, ExpectError: regexp.MustCompile(tc.want)}},
			})
		})
	}
	for _, tc := range []struct{ name, config string }{
		{"control: subject_regexp and issuer_regexp matching the whole identity",
			f.config(f.reg.Ref("team/alice:1"), keyless("issuer_regexp", `https://accounts\.acme\.com`, "subject_regexp", `alice@acme\.com`))},
		{"control: vuln attestation logged 1h ago, max_age 12h", f.config(f.reg.Ref("team/fresh:1"), maxAge)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				PreCheck:                 preCheck(t),
				ProtoV6ProviderFactories: protoV6Factories,
				Steps: []resource.TestStep{{Config: tc.config, ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
				}}},
			})
		})
	}
}

// An authority is one signer in one form, in the data source and in a
// resource's verify block: a second `key` under the same name, or a key
// with two forms, is refused at validation, never read as some other
// authority set.
func TestAccVerify_authorityShape(t *testing.T) {
	t.Parallel()
	const image = "registry.example.com/team/api:1"
	pin := func(authority string) string {
		return fmt.Sprintf(`
resource "imageguard_pin" "app" {
  ref = %q
  verify {
%s
  }
}`, image, authority)
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: notationVerify(image, `
  authority {
    name = "release"
    key {
      public_key_pem = "a"
    }
    key {
      kms = "hashivault://release"
    }
  }`),
				ExpectError: regexp.MustCompile(words("it has 2 key blocks")),
			},
			{
				Config: notationVerify(image, `
  authority {
    name = "release"
    key {
      public_key_pem = "a"
      kms            = "hashivault://release"
    }
  }`),
				ExpectError: regexp.MustCompile(words("exactly one of `public_key_pem` or `kms`; it has `public_key_pem` and `kms`")),
			},
			{
				Config: notationVerify(image, `
  authority {
    name = "release"
    keyless {
      issuer         = "https://accounts.example.com"
      issuer_regexp  = ".*"
      subject_regexp = ".*@example.com"
    }
  }`),
				ExpectError: regexp.MustCompile(words("exactly one of `issuer` or `issuer_regexp`; it has `issuer` and `issuer_regexp`")),
			},
			{
				Config: pin(`    authority {
      name = "release"
      keyless {
        issuer = "https://accounts.example.com"
      }
    }`),
				ExpectError: regexp.MustCompile(words("exactly one of `subject` or `subject_regexp`; it has neither")),
			},
		},
	})
}

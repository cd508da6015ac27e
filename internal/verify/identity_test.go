package verify_test

import (
	"strings"
	"testing"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// Identity patterns match the whole issuer and subject: sigstore-go (like
// cosign) searches a regular expression anywhere in the value, so
// "alice@acme\.com" also accepted alice@acme.com.evil.io.
func TestIdentityPatternsMatchWholeIdentities(t *testing.T) {
	const acmeIssuer = "https://accounts.acme.com"
	cases := []struct {
		name      string
		signedBy  acctest.Identity
		authority verify.KeylessAuthority
		want      string // "" verifies; else a reason fragment
	}{
		{"attacker's subject alice@acme.com.evil.io against subject_regexp alice@acme\\.com → refused",
			acctest.Identity{Issuer: acmeIssuer, Subject: "alice@acme.com.evil.io"},
			verify.KeylessAuthority{Issuer: acmeIssuer, SubjectRegexp: `alice@acme\.com`},
			`identity mismatch: certificate has issuer https://accounts.acme.com subject alice@acme.com.evil.io`},
		{"attacker's subject evil-alice@acme.com (a prefix) → refused",
			acctest.Identity{Issuer: acmeIssuer, Subject: "evil-alice@acme.com"},
			verify.KeylessAuthority{Issuer: acmeIssuer, SubjectRegexp: `alice@acme\.com`},
			"identity mismatch"},
		{"control: alice@acme.com against subject_regexp alice@acme\\.com → verifies",
			acctest.Identity{Issuer: acmeIssuer, Subject: "alice@acme.com"},
			verify.KeylessAuthority{Issuer: acmeIssuer, SubjectRegexp: `alice@acme\.com`}, ""},
		{"attacker's issuer https://accounts.acme.com.evil.io against issuer_regexp https://accounts\\.acme\\.com → refused",
			acctest.Identity{Issuer: "https://accounts.acme.com.evil.io", Subject: "alice@acme.com"},
			verify.KeylessAuthority{IssuerRegexp: `https://accounts\.acme\.com`, Subject: "alice@acme.com"},
			"identity mismatch: certificate has issuer https://accounts.acme.com.evil.io"},
		{"control: https://accounts.acme.com against issuer_regexp https://accounts\\.acme\\.com → verifies",
			acctest.Identity{Issuer: acmeIssuer, Subject: "alice@acme.com"},
			verify.KeylessAuthority{IssuerRegexp: `https://accounts\.acme\.com`, Subject: "alice@acme.com"}, ""},
		{"control: an already anchored pattern ^alice@acme\\.com$ keeps working",
			acctest.Identity{Issuer: acmeIssuer, Subject: "alice@acme.com"},
			verify.KeylessAuthority{IssuerRegexp: `^https://accounts\.acme\.com$`, SubjectRegexp: `^alice@acme\.com$`}, ""},
		{"control: an alternation matches either whole identity (anchored as a group)",
			acctest.Identity{Issuer: acmeIssuer, Subject: "bob@acme.com"},
			verify.KeylessAuthority{Issuer: acmeIssuer, SubjectRegexp: `alice@acme\.com|bob@acme\.com`}, ""},
		{"an alternation does not let one branch match part of the identity",
			acctest.Identity{Issuer: acmeIssuer, Subject: "bob@acme.com.evil.io"},
			verify.KeylessAuthority{Issuer: acmeIssuer, SubjectRegexp: `alice@acme\.com|bob@acme\.com`}, "identity mismatch"},
		{"a prefix pattern (^…/tags/v) no longer accepts the rest: the reason says to end it with .*",
			ciIdentity(),
			verify.KeylessAuthority{Issuer: ghIssuer, SubjectRegexp: `^https://github\.com/acme/api/\.github/workflows/release\.yml@refs/tags/v`},
			"subject_regexp matches only part of the subject"},
		{"control: the same prefix ending in .* verifies",
			ciIdentity(),
			verify.KeylessAuthority{Issuer: ghIssuer, SubjectRegexp: `^https://github\.com/acme/api/\.github/workflows/release\.yml@refs/tags/v.*`}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: tc.signedBy, TLog: true})
			a := tc.authority
			res := f.verify(t, f.verifier(t), []verify.Authority{{Name: "alice", Keyless: &a}})
			if tc.want == "" {
				s := onlySignature(t, res.Authorities[0])
				if s.Subject != tc.signedBy.Subject {
					t.Errorf("subject = %q", s.Subject)
				}
				return
			}
			rejected(t, res.Authorities[0], tc.want)
		})
	}
}

// The hint about whole-identity matching shows the anchored pattern as
// HCL spells it.
func TestIdentityMismatchShowsAnchoredPattern(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), TLog: true})
	a := verify.KeylessAuthority{IssuerRegexp: `https://token\.actions`, Subject: ghSubject}
	res := f.verify(t, f.verifier(t), []verify.Authority{{Name: "ci", Keyless: &a}})
	rejected(t, res.Authorities[0], `issuer_regexp matches only part of the issuer`)
	if r := strings.Join(res.Authorities[0].Reasons, "\n"); !strings.Contains(r, `"^(?:https://token\\.actions)$"`) {
		t.Errorf("reasons do not show the anchored pattern:\n%s", r)
	}
}

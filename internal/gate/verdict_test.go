package gate_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// The verdict predicate names a notation authority by its anchors'
// fingerprints and settings, as it names a key by its fingerprint.
func TestVerdictNotationAuthority(t *testing.T) {
	t.Parallel()
	ca := acctest.NewNotaryCA(t, "acme")
	tsa := acctest.NewNotaryTSA(t)
	a := gate.AuthorityOf(verify.Authority{Name: "release", Notation: &verify.NotationAuthority{CertificatesPEM: ca.RootPEM, TrustStoreType: "ca",
		TrustedIdentities: []string{"x509.subject: CN=release"}, TSACertificatesPEM: tsa.RootPEM, Revocation: "log"}})
	n := a.Notation
	if n == nil || a.Name != "release" || len(n.CertificatesSHA256) != 1 || len(n.TSACertificatesSHA256) != 1 || n.TrustStoreType != "ca" || n.Revocation != "log" ||
		len(n.TrustedIdentities) != 1 || a.KeySHA256 != "" {
		t.Fatalf("authority = %+v, notation %+v", a, n)
	}
	if want := gate.CertificateFingerprints(ca.RootPEM)[0]; n.CertificatesSHA256[0] != want || len(want) != 64 {
		t.Errorf("anchor fingerprint %q, want %q", n.CertificatesSHA256[0], want)
	}
	if strings.Contains(n.CertificatesSHA256[0], "BEGIN") {
		t.Errorf("the verdict quotes the PEM: %q", n.CertificatesSHA256[0])
	}
}

// TestProvenanceVerdict: the verdict predicate records the provenance
// requirement and the facts of what was accepted, and nothing without one.
func TestProvenanceVerdict(t *testing.T) {
	t.Parallel()
	const commit = "4f2c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
	built := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	found := []gate.ProvenanceFound{{Digest: "sha256:aa", Facts: verify.ProvenanceFacts{Repository: "https://github.com/acme/api", Ref: "refs/heads/main", Commit: commit,
		Workflow: "https://github.com/acme/api/.github/workflows/release.yml@refs/heads/main", RunnerEnvironment: "github-hosted",
		Issuer: "https://token.actions.githubusercontent.com", BuildTime: built}}}
	if g := gate.ProvenanceVerdict(found, nil); g != nil {
		t.Fatalf("without a requirement: %+v", g)
	}
	g := gate.ProvenanceVerdict(found, &policy.ProvenanceRule{SourceRepository: "github.com/acme/api", SourceRef: "refs/heads/main",
		PredicateType: "https://slsa.dev/provenance/v1", MaxAge: 720 * time.Hour})
	raw, err := json.Marshal(attest.VerifyGate{Provenance: g})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"provenance":{"settings":{"sourceRepository":"github.com/acme/api","sourceRef":"refs/heads/main","denySelfHostedRunners":false,"predicateType":"https://slsa.dev/provenance/v1","maxAge":"720h0m0s"}`,
		`"facts":[{"digest":"sha256:aa","repository":"https://github.com/acme/api","ref":"refs/heads/main","commit":"` + commit + `"`, `"buildTime":"2026-12-01T10:00:00Z"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("verdict lacks %s:\n%s", want, raw)
		}
	}
}

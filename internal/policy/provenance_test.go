package policy

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestEvaluateProvenance(t *testing.T) {
	const slsa = "https://slsa.dev/provenance/v1"
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) VerifiedAttestation {
		return VerifiedAttestation{PredicateType: slsa, Predicate: []byte(`{}`), VerifiedTime: now.Add(-ago)}
	}
	rule := ProvenanceRule{SourceRepository: "github.com/acme/api", SignerWorkflow: "github.com/acme/api/.github/workflows/release.yml", PredicateType: slsa, MaxAge: 720 * time.Hour}
	cases := []struct {
		name string
		o    ProvenanceOutcome
		want string // "" passes
	}{
		{"provenance built 2h ago, max_age 720h → passes", ProvenanceOutcome{Attestations: []VerifiedAttestation{at(2 * time.Hour)}}, ""},
		{"provenance built 31 days ago, max_age 720h → violation", ProvenanceOutcome{Attestations: []VerifiedAttestation{at(31 * 24 * time.Hour)}}, "older than max_age 720h0m0s"},
		{"an old and a fresh one: the newest is judged → passes", ProvenanceOutcome{Attestations: []VerifiedAttestation{at(31 * 24 * time.Hour), at(time.Hour)}}, ""},
		{"none accepted → violation with the verifier's reasons", ProvenanceOutcome{Reasons: []string{"provenance refused: source_ref requires refs/heads/main, found refs/heads/feature-x"}},
			"attestation of type https://slsa.dev/provenance/v1 missing; provenance refused: source_ref requires refs/heads/main"},
		{"index without, every platform with → passes", ProvenanceOutcome{PlatformAttestations: map[string][]VerifiedAttestation{"linux/amd64": {at(time.Hour)}, "linux/arm64": {at(time.Hour)}}}, ""},
		{"index without, one platform without → violation naming it", ProvenanceOutcome{PlatformAttestations: map[string][]VerifiedAttestation{"linux/amd64": {at(time.Hour)}, "linux/arm64": nil}}, "on platform linux/arm64: attestation of type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := EvaluateProvenance(context.Background(), tc.o, rule, now)
			if tc.want == "" {
				if len(v) != 0 {
					t.Fatalf("violations %+v", v)
				}
				return
			}
			if len(v) != 1 || v[0].Rule != "provenance" || !strings.Contains(v[0].Found, tc.want) || v[0].Requires != "SLSA provenance (https://slsa.dev/provenance/v1) from github.com/acme/api, signed by github.com/acme/api/.github/workflows/release.yml, built within 720h0m0s" {
				t.Fatalf("violations %+v, want one containing %q", v, tc.want)
			}
		})
	}
}

func TestEvaluateVerifyAttestationsOnly(t *testing.T) {
	const vuln = VulnPredicateType
	now := time.Now()
	o := []AuthorityOutcome{{Name: "ci", Attestations: []VerifiedAttestation{{PredicateType: vuln, Predicate: []byte(`{"metadata":{"scanFinishedOn":"` + now.Add(-time.Hour).UTC().Format(time.RFC3339) + `"}}`), VerifiedTime: now.Add(-time.Hour)}}}}
	rules := VerifyRules{RequireAll: true, Attestations: []AttestationRule{{PredicateType: vuln}}, Now: now}
	if v := EvaluateVerify(context.Background(), o, rules); len(v) != 1 || !strings.Contains(v[0].Found, "no signature verified") {
		t.Fatalf("control, a signature required: %+v", v)
	}
	rules.AttestationsOnly = true
	if v := EvaluateVerify(context.Background(), o, rules); len(v) != 0 {
		t.Fatalf("attestations only: %+v", v)
	}
	o[0].Attestations = nil
	if v := EvaluateVerify(context.Background(), o, rules); len(v) != 1 || !strings.Contains(v[0].Found, "attestation of type "+vuln+" missing") {
		t.Fatalf("attestations only, none: %+v", v)
	}
}

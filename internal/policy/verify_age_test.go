package policy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAttestationMaxAge(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	vulnAt := func(t time.Time) json.RawMessage {
		return json.RawMessage(`{"scanner":{"result":{}},"metadata":{"scanStartedOn":"` + t.Add(-time.Second).Format(time.RFC3339Nano) + `","scanFinishedOn":"` + t.Format(time.RFC3339Nano) + `"}}`)
	}
	verdictAt := func(t time.Time) json.RawMessage {
		return json.RawMessage(`{"result":"passed","judgedAt":"` + t.Format(time.RFC3339) + `"}`)
	}
	noCritical := mustCondition(t, `predicate.scanner.result.size() >= 0`)
	week := 168 * time.Hour
	cases := []struct {
		name string
		have []VerifiedAttestation
		rule AttestationRule
		want string // "" passes; else a reason fragment
	}{
		{"vuln scanned a day ago, max_age 168h → passes",
			[]VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(-24 * time.Hour))}}, AttestationRule{PredicateType: VulnPredicateType, MaxAge: week}, ""},
		{"vuln scanned 8 days ago, max_age 168h → violation naming the scan time",
			[]VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(-192 * time.Hour))}}, AttestationRule{PredicateType: VulnPredicateType, MaxAge: week},
			"judged 2026-03-02T12:00:00Z, 192h0m0s ago, older than max_age 168h0m0s"},
		{"exactly max_age old → passes", []VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(-week))}},
			AttestationRule{PredicateType: VulnPredicateType, MaxAge: week}, ""},
		{"old vuln without max_age → passes (the rule is off)", []VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(-900 * time.Hour))}},
			AttestationRule{PredicateType: VulnPredicateType}, ""},
		{"verdict judged an hour ago → passes", []VerifiedAttestation{{PredicateType: VerdictPredicateType, Predicate: verdictAt(now.Add(-time.Hour))}},
			AttestationRule{PredicateType: VerdictPredicateType, MaxAge: 72 * time.Hour}, ""},
		{"verdict judged 4 days ago, max_age 72h → violation", []VerifiedAttestation{{PredicateType: VerdictPredicateType, Predicate: verdictAt(now.Add(-96 * time.Hour))}},
			AttestationRule{PredicateType: VerdictPredicateType, MaxAge: 72 * time.Hour}, "older than max_age 72h0m0s"},
		{"dated an hour in the future → violation (a clock or a forger lies)", []VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(time.Hour))}},
			AttestationRule{PredicateType: VulnPredicateType, MaxAge: week}, "in the future"},
		{"two minutes in the future (clock skew) → passes", []VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(2 * time.Minute))}},
			AttestationRule{PredicateType: VulnPredicateType, MaxAge: week}, ""},
		{"no scanFinishedOn → violation, not a pass", []VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: json.RawMessage(`{"metadata":{}}`)}},
			AttestationRule{PredicateType: VulnPredicateType, MaxAge: week}, "has no metadata.scanFinishedOn"},
		{"a malformed time → violation", []VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: json.RawMessage(`{"metadata":{"scanFinishedOn":"yesterday"}}`)}},
			AttestationRule{PredicateType: VulnPredicateType, MaxAge: week}, `"yesterday" is not an RFC 3339 time`},
		{"a predicate that is not an object → violation", []VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: json.RawMessage(`[1]`)}},
			AttestationRule{PredicateType: VulnPredicateType, MaxAge: week}, "not a JSON object"},
		{"a type without a scan time → violation", []VerifiedAttestation{{PredicateType: slsa1, Predicate: provenance}},
			AttestationRule{PredicateType: slsa1, MaxAge: week}, "carries no scan time"},
		{"fresh and the condition holds → passes", []VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(-time.Hour))}},
			AttestationRule{PredicateType: VulnPredicateType, MaxAge: week, Condition: noCritical}, ""},
		{"an old one and a fresh one → the fresh one passes",
			[]VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(-500 * time.Hour))}, {PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(-time.Hour))}},
			AttestationRule{PredicateType: VulnPredicateType, MaxAge: week}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := AuthorityOutcome{Name: "release", Signatures: 1, Attestations: tc.have}
			viols := EvaluateVerify(context.Background(), []AuthorityOutcome{o}, VerifyRules{RequireAll: true, Attestations: []AttestationRule{tc.rule}, Now: now})
			if tc.want == "" {
				if len(viols) != 0 {
					t.Fatalf("want a pass, got %+v", viols)
				}
				return
			}
			if len(viols) != 1 || !strings.Contains(viols[0].Found, tc.want) {
				t.Fatalf("want one violation containing %q, got %+v", tc.want, viols)
			}
		})
	}
	t.Run("on an index, every platform's attestation must be recent", func(t *testing.T) {
		o := AuthorityOutcome{Name: "release", Signatures: 1, PlatformAttestations: map[string][]VerifiedAttestation{
			"linux/amd64": {{PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(-time.Hour))}},
			"linux/arm64": {{PredicateType: VulnPredicateType, Predicate: vulnAt(now.Add(-400 * time.Hour))}},
		}}
		viols := EvaluateVerify(context.Background(), []AuthorityOutcome{o}, VerifyRules{RequireAll: true, Attestations: []AttestationRule{{PredicateType: VulnPredicateType, MaxAge: week}}, Now: now})
		if len(viols) != 1 || !strings.Contains(viols[0].Found, "on platform linux/arm64") || strings.Contains(viols[0].Found, "linux/amd64") {
			t.Fatalf("got %+v", viols)
		}
	})
}

func TestHasPredicateTime(t *testing.T) {
	for pt, want := range map[string]bool{VulnPredicateType: true, VerdictPredicateType: true, slsa1: false, "": false} {
		if HasPredicateTime(pt) != want {
			t.Errorf("HasPredicateTime(%q) = %v", pt, !want)
		}
	}
}

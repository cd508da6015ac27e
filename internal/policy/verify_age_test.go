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
	// vuln is a vuln attestation scanned at scan and logged at logged.
	vuln := func(scan, logged time.Time) VerifiedAttestation {
		return VerifiedAttestation{PredicateType: VulnPredicateType, Predicate: vulnAt(scan), VerifiedTime: logged}
	}
	// fresh is scanned and logged at t, as a CI job does it.
	fresh := func(t time.Time) VerifiedAttestation { return vuln(t.Add(-time.Minute), t) }
	vulnRule := AttestationRule{PredicateType: VulnPredicateType, MaxAge: week}
	cases := []struct {
		name string
		have []VerifiedAttestation
		rule AttestationRule
		want string // "" passes; else a reason fragment
	}{
		{"vuln logged a day ago, max_age 168h → passes", []VerifiedAttestation{fresh(now.Add(-24 * time.Hour))}, vulnRule, ""},
		{"vuln logged 8 days ago, max_age 168h → violation naming the verified time",
			[]VerifiedAttestation{fresh(now.Add(-192 * time.Hour))}, vulnRule,
			"logged or timestamped at 2026-03-02T12:00:00Z, 192h0m0s ago, older than max_age 168h0m0s"},
		{"exactly max_age old → passes", []VerifiedAttestation{fresh(now.Add(-week))}, vulnRule, ""},
		{"old vuln without max_age → passes (the rule is off)", []VerifiedAttestation{fresh(now.Add(-900 * time.Hour))},
			AttestationRule{PredicateType: VulnPredicateType}, ""},
		{"verdict logged an hour ago → passes",
			[]VerifiedAttestation{{PredicateType: VerdictPredicateType, Predicate: verdictAt(now.Add(-time.Hour)), VerifiedTime: now.Add(-time.Hour)}},
			AttestationRule{PredicateType: VerdictPredicateType, MaxAge: 72 * time.Hour}, ""},
		{"verdict logged 4 days ago, max_age 72h → violation",
			[]VerifiedAttestation{{PredicateType: VerdictPredicateType, Predicate: verdictAt(now.Add(-96 * time.Hour)), VerifiedTime: now.Add(-96 * time.Hour)}},
			AttestationRule{PredicateType: VerdictPredicateType, MaxAge: 72 * time.Hour}, "older than max_age 72h0m0s"},

		// The attacker's side: dates that are only claims.
		{"scan time says today, but the log saw it 8 days ago (forward-dated predicate) → violation",
			[]VerifiedAttestation{vuln(now.Add(-time.Hour), now.Add(-192*time.Hour))}, vulnRule,
			"its predicate says it was made at 2026-03-10T11:00:00Z, after its signature was logged or timestamped at 2026-03-02T12:00:00Z"},
		{"predicate later than its verified time is refused even without max_age",
			[]VerifiedAttestation{vuln(now.Add(-time.Hour), now.Add(-48*time.Hour))}, AttestationRule{PredicateType: VulnPredicateType},
			"a predicate cannot postdate its signature"},
		{"control: scan finished 4 minutes after the log time (clock skew) → passes",
			[]VerifiedAttestation{vuln(now.Add(-56*time.Minute), now.Add(-time.Hour))}, vulnRule, ""},
		{"an old scan logged an hour ago (re-signed old result) → passes: max_age is about when it was signed",
			[]VerifiedAttestation{vuln(now.Add(-500*time.Hour), now.Add(-time.Hour))}, vulnRule, ""},
		{"no verified time (key signature, tlog optional), max_age set → violation saying what to do",
			[]VerifiedAttestation{vuln(now.Add(-time.Hour), time.Time{})}, vulnRule,
			`it has no verified time, so max_age cannot be judged`},
		{"no verified time without max_age → passes (nothing to judge)",
			[]VerifiedAttestation{vuln(now.Add(-time.Hour), time.Time{})}, AttestationRule{PredicateType: VulnPredicateType}, ""},
		{"verified time an hour in the future → violation",
			[]VerifiedAttestation{vuln(now.Add(-time.Minute), now.Add(time.Hour))}, vulnRule, "in the future"},
		{"verified time two minutes in the future (clock skew) → passes",
			[]VerifiedAttestation{vuln(now, now.Add(2*time.Minute))}, vulnRule, ""},

		{"no scanFinishedOn, max_age set → violation, not a pass",
			[]VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: json.RawMessage(`{"metadata":{}}`), VerifiedTime: now}}, vulnRule, "has no metadata.scanFinishedOn"},
		{"a malformed time → violation",
			[]VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: json.RawMessage(`{"metadata":{"scanFinishedOn":"yesterday"}}`), VerifiedTime: now}}, vulnRule,
			`"yesterday" is not an RFC 3339 time`},
		{"a predicate that is not an object → violation",
			[]VerifiedAttestation{{PredicateType: VulnPredicateType, Predicate: json.RawMessage(`[1]`), VerifiedTime: now}}, vulnRule, "not a JSON object"},
		{"a type without its own time is judged by its verified time → passes",
			[]VerifiedAttestation{{PredicateType: slsa1, Predicate: provenance, VerifiedTime: now.Add(-time.Hour)}}, AttestationRule{PredicateType: slsa1, MaxAge: week}, ""},
		{"fresh and the condition holds → passes", []VerifiedAttestation{fresh(now.Add(-time.Hour))},
			AttestationRule{PredicateType: VulnPredicateType, MaxAge: week, Condition: noCritical}, ""},

		// Several of one type: the newest by verified time is judged.
		{"an old one and a fresh one → the fresh one passes",
			[]VerifiedAttestation{fresh(now.Add(-500 * time.Hour)), fresh(now.Add(-time.Hour))}, vulnRule, ""},
		{"the newest by verified time is judged, not the first listed or the one with the latest scan time",
			[]VerifiedAttestation{vuln(now.Add(-2*time.Hour), now.Add(-400*time.Hour)), fresh(now.Add(-300 * time.Hour))}, vulnRule,
			"present (2; the newest by verified time is judged) but its signature was logged or timestamped at 2026-02-26T00:00:00Z"},
		{"an older attestation that satisfies the condition does not outvote the newest that does not",
			[]VerifiedAttestation{
				{PredicateType: slsa1, Predicate: provenance, VerifiedTime: now.Add(-2 * time.Hour)},
				{PredicateType: slsa1, Predicate: json.RawMessage(`{"buildDefinition":{"externalParameters":{"workflow":{"repository":"https://github.com/evil/api"}}}}`), VerifiedTime: now.Add(-time.Hour)},
			},
			AttestationRule{PredicateType: slsa1, Condition: mustCondition(t, `predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/api"`)},
			"is false"},
		{"two with the same verified time: either satisfying suffices",
			[]VerifiedAttestation{
				{PredicateType: slsa1, Predicate: json.RawMessage(`{"buildDefinition":{"externalParameters":{"workflow":{"repository":"https://github.com/evil/api"}}}}`), VerifiedTime: now.Add(-time.Hour)},
				{PredicateType: slsa1, Predicate: provenance, VerifiedTime: now.Add(-time.Hour)},
			},
			AttestationRule{PredicateType: slsa1, Condition: mustCondition(t, `predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/api"`)}, ""},
		{"one with a verified time and one without: the one without does not count",
			[]VerifiedAttestation{vuln(now.Add(-time.Hour), time.Time{}), fresh(now.Add(-400 * time.Hour))}, vulnRule, "older than max_age"},
		{"none with a verified time and no max_age: any satisfying the condition suffices",
			[]VerifiedAttestation{
				{PredicateType: slsa1, Predicate: json.RawMessage(`{}`)},
				{PredicateType: slsa1, Predicate: provenance},
			},
			AttestationRule{PredicateType: slsa1, Condition: mustCondition(t, `predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/api"`)}, ""},
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
			"linux/amd64": {fresh(now.Add(-time.Hour))},
			"linux/arm64": {fresh(now.Add(-400 * time.Hour))},
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

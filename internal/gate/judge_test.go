package gate

import (
	"slices"
	"testing"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
)

// What may be handed out is what every gate that ran judged: a platform one
// gate skipped was not judged, whatever the others did.
func TestJudgedByAll(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		judged map[Kind][]string
		want   []string
	}{
		{"one gate", map[Kind][]string{KindScan: {"a", "b"}}, []string{"a", "b"}},
		{"gates agree", map[Kind][]string{KindScan: {"a", "b"}, KindVerify: {"a", "b"}}, []string{"a", "b"}},
		{"verify narrowed to one platform", map[Kind][]string{KindScan: {"a", "b"}, KindVerify: {"b"}}, []string{"b"}},
		{"rules narrowed, verify all", map[Kind][]string{KindScan: {"a", "b", "c"}, KindRules: {"a", "c"}, KindVerify: {"a", "b", "c"}}, []string{"a", "c"}},
		{"disjoint selections judge nothing together", map[Kind][]string{KindScan: {"a"}, KindRules: {"b"}}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := judgedByAll(tc.judged)
			if got == nil {
				got = []string{}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("judgedByAll = %v, want %v", got, tc.want)
			}
		})
	}
}

// Each gate keeps its own enforcement: one gate's warn never relaxes
// another, and violations under warn never block.
func TestJudgementBlocks(t *testing.T) {
	t.Parallel()
	viol := []policy.Violation{{Rule: "non-root", Found: "runs as root"}}
	scanFail := &ScanOutcome{Decision: policy.ScanDecision{Violations: viol}}
	for _, tc := range []struct {
		name string
		j    Judgement
		want map[Kind]bool
	}{
		{"nothing ran", Judgement{}, map[Kind]bool{}},
		{"scan fails under error", Judgement{Scan: withEnforcement(scanFail, report.EnforcementError)}, map[Kind]bool{KindScan: true}},
		{"scan fails under warn", Judgement{Scan: withEnforcement(scanFail, report.EnforcementWarn)}, map[Kind]bool{}},
		{"rules warn, verify error", Judgement{
			Rules:  &RulesOutcome{Violations: viol, Enforcement: report.EnforcementWarn},
			Verify: &VerifyOutcome{Violations: viol, Enforcement: report.EnforcementError},
		}, map[Kind]bool{KindVerify: true}},
		{"passing gates never block", Judgement{Rules: &RulesOutcome{Enforcement: report.EnforcementError}, Verify: &VerifyOutcome{}}, map[Kind]bool{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, k := range []Kind{KindScan, KindRules, KindVerify} {
				if got := tc.j.Blocks(k); got != tc.want[k] {
					t.Errorf("Blocks(%s) = %v, want %v", k, got, tc.want[k])
				}
			}
		})
	}
}

func withEnforcement(o *ScanOutcome, e report.Enforcement) *ScanOutcome {
	c := *o
	c.Enforcement = e
	return &c
}

// A verdict in brief counts what every gate found: it passed, with
// warnings when a gate under warn found violations.
func TestJudgementSummary(t *testing.T) {
	t.Parallel()
	viol := []policy.Violation{{Rule: "non-root", Found: "runs as root"}}
	db := scan.DBInfo{DB: report.DB{SchemaVersion: 2, UpdatedAt: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}}
	results := []*scan.Result{{Platform: "linux/amd64", Findings: []policy.Finding{{ID: "CVE-2026-1", Severity: "LOW"}},
		Suppressed: []scan.Suppressed{{ID: "CVE-2026-2", Reason: "not_affected"}}}}
	for _, tc := range []struct {
		name            string
		j               Judgement
		result          string
		violations, ign int
	}{
		{"clean scan", Judgement{Scan: &ScanOutcome{DB: db, Results: results}}, "passed", 0, 1},
		{"scan warns, an ignore applied", Judgement{Scan: &ScanOutcome{DB: db, Results: results,
			Decision: policy.ScanDecision{Violations: viol, Ignored: []policy.Suppression{{ID: "CVE-2026-3"}}}}}, "passed-with-warnings", 1, 2},
		{"rules and signatures warn", Judgement{Scan: &ScanOutcome{DB: db, Results: results}, Rules: &RulesOutcome{Violations: viol},
			Verify: &VerifyOutcome{Violations: append(viol, viol...)}}, "passed-with-warnings", 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.j.Summary()
			if s.Result != tc.result || s.Violations != tc.violations || s.Ignored != tc.ign || s.DBVersion != "2@2026-12-06T00:00:00Z" || s.Findings["LOW"] != 1 {
				t.Fatalf("Summary = %+v, want %s with %d violations and %d ignored", s, tc.result, tc.violations, tc.ign)
			}
		})
	}
}

package gate

import (
	"slices"
	"testing"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
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

package report

import (
	"sort"
	"strings"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// Level is how a gate's verdict reaches the user.
type Level int

const (
	// LevelError fails the plan.
	LevelError Level = iota
	// LevelWarning reports without failing (enforcement = "warn").
	LevelWarning
)

// Message is one gate failure as the user reads it.
type Message struct {
	Level   Level
	Summary string
	Detail  string
}

// Enforcement is what a gate's violations do: fail the plan, or under
// "warn" reach the user as warnings (audit mode). It never turns an error
// while evaluating a gate into a pass.
type Enforcement string

// Enforcement values, as written in `enforcement`.
const (
	EnforcementError Enforcement = "error"
	EnforcementWarn  Enforcement = "warn"
)

// Warns reports whether violations are warnings rather than errors.
func (e Enforcement) Warns() bool { return e == EnforcementWarn }

// Violations decides, once for every gate, how a gate's violations are
// reported: an error, or under `enforcement = "warn"` a warning whose
// summary says so. Errors while evaluating a gate never come here: they
// stay errors whatever the enforcement.
func Violations(enforcement Enforcement, summary, detail string) Message {
	if enforcement.Warns() {
		return Message{Level: LevelWarning, Summary: summary + " (enforcement = warn)", Detail: detail}
	}
	return Message{Level: LevelError, Summary: summary, Detail: detail}
}

// SeverityCounts counts findings per severity name, every name present;
// a severity Trivy did not name, in any letter case, counts as UNKNOWN.
func SeverityCounts(findings []policy.Finding) map[string]int64 {
	counts := make(map[string]int64, len(policy.SeverityNames))
	for _, n := range policy.SeverityNames {
		counts[n] = 0
	}
	for _, f := range findings {
		sev := strings.ToUpper(strings.TrimSpace(f.Severity))
		if _, ok := counts[sev]; !ok {
			sev = "UNKNOWN"
		}
		counts[sev]++
	}
	return counts
}

// ViolationIDs are the distinct ids of violations, sorted: a finding's
// id, `secret <rule>` for a secret, else what was found.
func ViolationIDs(violations []policy.Violation) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range violations {
		id := v.Found
		switch {
		case v.Finding != nil:
			id = v.Finding.ID
		case v.Secret != nil:
			id = "secret " + v.Secret.RuleID
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// LineOf is one violation in a sentence, as failure messages and the
// policy's `violations` list it: `rule: what was found [platform]
// (requires …); fix: …`.
func LineOf(v policy.Violation) string {
	if v.Finding != nil || v.Secret != nil {
		return v.Rule + ": " + Line(v)
	}
	s := v.Rule + ": " + v.Found
	if v.Platform != "" {
		s += " [" + v.Platform + "]"
	}
	if v.Requires != "" {
		s += " (requires " + v.Requires + ")"
	}
	if v.Fix != "" {
		s += "; fix: " + v.Fix
	}
	return s
}

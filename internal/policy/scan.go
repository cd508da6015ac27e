// Package policy holds imageguard's decisions as pure functions: findings,
// signatures and image facts plus rules and `now` in, a sorted list of
// violations out. Nothing here does I/O, so every rule is table-tested with
// plain values.
package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Severity is Trivy's severity scale.
type Severity int

// Trivy's severities, in order.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

// SeverityNames lists the severities from lowest to highest, as Trivy spells them.
var SeverityNames = []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(SeverityNames) {
		return "UNKNOWN"
	}
	return SeverityNames[s]
}

// ParseSeverity reads a severity name (case-insensitive).
func ParseSeverity(s string) (Severity, error) {
	for i, n := range SeverityNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Severity(i), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("severity %q is not one of %s", s, strings.Join(SeverityNames, ", "))
}

// severityOf treats anything unreadable as UNKNOWN, as Trivy does.
func severityOf(s string) Severity {
	v, err := ParseSeverity(s)
	if err != nil {
		return SeverityUnknown
	}
	return v
}

// Finding is one vulnerability in one package of one platform image.
type Finding struct {
	ID               string
	Severity         string
	Package          string
	InstalledVersion string
	FixedVersion     string
	// Status is Trivy's status: fixed, affected, will_not_fix, ...
	Status   string
	Title    string
	Target   string
	Platform string
	PkgType  string
	// KEV and EPSS are what exploitation data says about the finding; nil
	// without that data, or when the data does not list its id.
	KEV  *KEVListing
	EPSS *EPSSScore
}

// Fixed reports whether a fixed version exists.
func (f Finding) Fixed() bool {
	return f.Status == "fixed" || (f.Status == "" && f.FixedVersion != "")
}

// Secret is one secret found in a platform image; never its text.
type Secret struct {
	RuleID   string
	Category string
	Severity string
	Title    string
	Target   string
	Line     int
	Platform string
}

// Ignore suppresses a finding by id (CVE, GHSA, ... or a secret rule id),
// optionally only in some packages, until it expires.
type Ignore struct {
	ID       string
	Reason   string
	Expires  time.Time // zero: never; otherwise valid through that day (UTC)
	Packages []string
}

func (ig Ignore) expired(now time.Time) bool {
	return !ig.Expires.IsZero() && !now.Before(ig.Expires.AddDate(0, 0, 1))
}

func (ig Ignore) matches(id, pkg string) bool {
	if !strings.EqualFold(ig.ID, id) {
		return false
	}
	if len(ig.Packages) == 0 {
		return true
	}
	for _, p := range ig.Packages {
		if p == pkg {
			return true
		}
	}
	return false
}

// ScanRules are the scan gate's settings.
type ScanRules struct {
	// Threshold: a finding at or above it is a violation.
	Threshold Severity
	// IgnoreUnfixed drops findings with no fixed version, as
	// `trivy --ignore-unfixed` does.
	IgnoreUnfixed bool
	Ignores       []Ignore
	// Unscored says what a finding with no severity (UNKNOWN: often a CVE
	// too new to be scored) below the threshold does. The zero value fails.
	Unscored UnscoredAction
	// Exploited are the rules on exploitation data (KEV, EPSS).
	Exploited ExploitRules
}

// UnscoredAction is what a finding nobody scored yet does to the gate.
type UnscoredAction int

// The actions for unscored findings. Fail is the zero value: a finding the
// gate cannot place against the threshold is one it could not judge.
const (
	UnscoredFail UnscoredAction = iota
	UnscoredWarn
	UnscoredIgnore
)

// UnscoredActions are the values of `unknown_severity`, as users write them.
var UnscoredActions = []string{"fail", "warn", "ignore"}

// ParseUnscored reads `unknown_severity`; empty is "fail".
func ParseUnscored(s string) (UnscoredAction, error) {
	switch s {
	case "", "fail":
		return UnscoredFail, nil
	case "warn":
		return UnscoredWarn, nil
	case "ignore":
		return UnscoredIgnore, nil
	}
	return UnscoredFail, fmt.Errorf("unknown_severity %q is not one of %s", s, strings.Join(UnscoredActions, ", "))
}

// RuleUnscored is the violation id of a finding with no severity.
const RuleUnscored = "unknown-severity"

// Violation is one reason an image fails a gate.
type Violation struct {
	// Rule is the rule id, e.g. "severity" or "secret".
	Rule     string
	Platform string
	// Subject is the thing that violates the rule, e.g. the port "22/tcp",
	// the package "bash" or the path "/etc/shadow"; exceptions match it.
	Subject string
	// Image and Digest name the image judged (set by EvaluateRules).
	Image  string
	Digest string
	// Found says what was found; Requires what the rule requires; Fix what to do.
	Found    string
	Requires string
	Fix      string
	// Finding or Secret is set for scan violations.
	Finding *Finding
	Secret  *Secret
	// Exploit is what exploitation data says about the finding (see
	// ExploitNote); "" when nothing.
	Exploit string
}

// Suppression records a finding that a rule did not count, and why.
type Suppression struct {
	ID       string
	Package  string
	Platform string
	Reason   string
	// Expires is the last day of the `ignore` that suppressed it; zero
	// when that ignore never expires, or it was not an ignore.
	Expires time.Time
	// Rule and Subject are set for configuration rules excepted by an
	// Exception (EvaluateRules); ID and Package then repeat them.
	Rule    string
	Subject string
	// KEV is set when the suppressed finding is listed as known exploited:
	// the verdict records that an exploited flaw was accepted.
	KEV *KEVListing
}

// ScanDecision is the scan gate's verdict for one image.
type ScanDecision struct {
	Violations []Violation
	Ignored    []Suppression
	// Warnings are things the user must hear about even when the gate
	// passes, e.g. expired ignores.
	Warnings []string
	// ExploitWarnings name KEV-listed findings that do not fail the gate
	// because `kev = "warn"`.
	ExploitWarnings []string
	// AcceptedExploits name KEV-listed findings an ignore accepts.
	AcceptedExploits []string
}

// Passed reports whether there are no violations.
func (d ScanDecision) Passed() bool { return len(d.Violations) == 0 }

// EvaluateScan judges findings, secrets and OS coverage against the rules
// at time now. Findings below the threshold are neither violations nor
// ignored: they are simply reported. Every secret is a violation unless an
// ignore covers its rule id. A platform whose OS release has no advisory
// data is an OS-UNSUPPORTED violation, one past its end of life an OS-EOSL
// violation, unless an ignore with that id covers it: "nothing found" on an
// OS nobody checks is not a clean result.
func EvaluateScan(findings []Finding, secrets []Secret, coverage []Coverage, rules ScanRules, now time.Time) ScanDecision {
	var d ScanDecision
	warned := map[int]bool{}
	active := func(id, pkg string) (*Ignore, bool) {
		for i := range rules.Ignores {
			ig := &rules.Ignores[i]
			if !ig.matches(id, pkg) {
				continue
			}
			if ig.expired(now) {
				if !warned[i] {
					warned[i] = true
					d.Warnings = append(d.Warnings, fmt.Sprintf("The ignore for %s expired on %s and no longer suppresses it (reason was: %q). Fix the finding, or renew the ignore with a new `expires` if the reason still holds.",
						ig.ID, ig.Expires.Format("2006-01-02"), ig.Reason))
				}
				continue
			}
			return ig, true
		}
		return nil, false
	}

	for i := range findings {
		f := findings[i]
		if ig, ok := active(f.ID, f.Package); ok {
			d.Ignored = append(d.Ignored, Suppression{ID: f.ID, Package: f.Package, Platform: f.Platform, Reason: ignoreReason(*ig), Expires: ig.Expires, KEV: f.KEV})
			if f.KEV != nil && rules.Exploited.KEV != KEVIgnore {
				d.AcceptedExploits = append(d.AcceptedExploits, acceptedExploitWarning(f, *ig, rules.Exploited))
			}
			continue
		}
		unscored := severityOf(f.Severity) == SeverityUnknown && rules.Threshold > SeverityUnknown
		// Exploitation comes before severity: a KEV-listed finding fails
		// whatever its severity, fix status or score; one above the EPSS bar
		// fails where the threshold or ignore_unfixed would let it pass.
		kev, epss, warn := exploitVerdict(f, rules.Exploited)
		if warn != "" {
			d.ExploitWarnings = append(d.ExploitWarnings, warn)
		}
		below := unscored || severityOf(f.Severity) < rules.Threshold || (rules.IgnoreUnfixed && !f.Fixed())
		if kev || (epss && below) {
			d.Violations = append(d.Violations, exploitViolation(&findings[i], rules.Exploited, kev))
			continue
		}
		if rules.IgnoreUnfixed && !f.Fixed() {
			if severityOf(f.Severity) >= rules.Threshold || unscored {
				d.Ignored = append(d.Ignored, Suppression{ID: f.ID, Package: f.Package, Platform: f.Platform, Reason: "ignore_unfixed: no fixed version (status " + orDash(f.Status) + ")"})
			}
			continue
		}
		if unscored {
			d.unscored(&findings[i], rules.Unscored)
			continue
		}
		if severityOf(f.Severity) < rules.Threshold {
			continue
		}
		fix := fmt.Sprintf("upgrade %s to %s or later", f.Package, f.FixedVersion)
		if !f.Fixed() {
			fix = fmt.Sprintf("no fixed version of %s yet: remove the package, use `ignore_unfixed = true`, or add an `ignore` with a reason and an expiry", f.Package)
		}
		d.Violations = append(d.Violations, Violation{
			Rule:     "severity",
			Platform: f.Platform,
			Found:    fmt.Sprintf("%s %s in %s %s", f.Severity, f.ID, f.Package, f.InstalledVersion),
			Requires: fmt.Sprintf("no finding at or above %s", rules.Threshold),
			Fix:      fix,
			Finding:  &findings[i],
			Exploit:  ExploitNote(f, rules.Exploited),
		})
	}
	for i := range secrets {
		s := secrets[i]
		if ig, ok := active(s.RuleID, ""); ok {
			d.Ignored = append(d.Ignored, Suppression{ID: s.RuleID, Package: s.Target, Platform: s.Platform, Reason: ignoreReason(*ig)})
			continue
		}
		d.Violations = append(d.Violations, Violation{
			Rule:     "secret",
			Platform: s.Platform,
			Found:    fmt.Sprintf("%s secret (%s) in %s line %d", s.Severity, s.RuleID, s.Target, s.Line),
			Requires: "no secrets baked into the image",
			Fix:      "remove the secret from the image (build args, env, files and history), rotate it, and rebuild",
			Secret:   &secrets[i],
		})
	}
	for i := range coverage {
		for _, v := range coverageViolations(coverage[i]) {
			if ig, ok := active(v.Rule, coverage[i].Family); ok {
				d.Ignored = append(d.Ignored, Suppression{ID: v.Rule, Package: v.Subject, Platform: v.Platform, Reason: ignoreReason(*ig)})
				continue
			}
			d.Violations = append(d.Violations, v)
		}
	}
	sortViolations(d.Violations)
	sort.SliceStable(d.Ignored, func(i, j int) bool {
		a, b := d.Ignored[i], d.Ignored[j]
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if a.Package != b.Package {
			return a.Package < b.Package
		}
		return a.Platform < b.Platform
	})
	return d
}

// unscored judges a finding with no severity under a threshold above
// UNKNOWN: nobody can say it is below the threshold, so it is never silent.
func (d *ScanDecision) unscored(f *Finding, action UnscoredAction) {
	what := strings.TrimSpace(fmt.Sprintf("%s %s in %s %s", orDash(f.Severity), f.ID, f.Package, f.InstalledVersion))
	if f.Platform != "" {
		what += " (" + f.Platform + ")"
	}
	switch action {
	case UnscoredIgnore:
		d.Ignored = append(d.Ignored, Suppression{ID: f.ID, Package: f.Package, Platform: f.Platform, Reason: `unknown_severity = "ignore": no severity assigned yet`})
	case UnscoredWarn:
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s has no severity yet (not scored by any source the database has), so the threshold cannot place it; it does not fail the gate because `unknown_severity = \"warn\"`. "+
			"Read the advisory, and add an `ignore` with a reason and an expiry once judged.", what))
	default:
		fix := fmt.Sprintf("upgrade %s to %s or later", f.Package, f.FixedVersion)
		if !f.Fixed() {
			fix = fmt.Sprintf("no fixed version of %s yet: remove the package", f.Package)
		}
		d.Violations = append(d.Violations, Violation{
			Rule:     RuleUnscored,
			Platform: f.Platform,
			Found:    what + ": no severity assigned yet, so the threshold cannot place it",
			Requires: "every finding scored, or judged by a person",
			Fix:      fix + fmt.Sprintf("; or read the advisory and accept it with `ignore { id = %q, reason = \"…\", expires = \"YYYY-MM-DD\" }`, or set `unknown_severity = \"warn\"` to report unscored findings without failing", f.ID),
			Finding:  f,
		})
	}
}

func ignoreReason(ig Ignore) string {
	r := "ignore: " + ig.Reason
	if !ig.Expires.IsZero() {
		r += " (until " + ig.Expires.Format("2006-01-02") + ")"
	}
	return r
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sortViolations orders by severity (worst first), then rule, id, package,
// platform: the same input always gives the same order.
func sortViolations(v []Violation) {
	sev := func(x Violation) Severity {
		switch {
		case x.Finding != nil:
			return severityOf(x.Finding.Severity)
		case x.Secret != nil:
			return severityOf(x.Secret.Severity)
		}
		return SeverityUnknown
	}
	id := func(x Violation) string {
		switch {
		case x.Finding != nil:
			return x.Finding.ID + "\x00" + x.Finding.Package + "\x00" + x.Finding.Target
		case x.Secret != nil:
			return x.Secret.RuleID + "\x00" + x.Secret.Target
		}
		return x.Found
	}
	sort.SliceStable(v, func(i, j int) bool {
		a, b := v[i], v[j]
		if sev(a) != sev(b) {
			return sev(a) > sev(b)
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if id(a) != id(b) {
			return id(a) < id(b)
		}
		return a.Platform < b.Platform
	})
}

package policy

import (
	"fmt"
	"strings"
	"time"
)

// Exception accepts violations of one rule, optionally only for one
// subject and one image, until it expires.
type Exception struct {
	// Rule is a rule id (see RuleIDs).
	Rule string
	// Finding, when set, limits the exception to violations whose Subject
	// it names: a port ("22" also covers "22/tcp" and "22/udp"), a package,
	// a path ("/root/.ssh" or "root/.ssh"), a label, "env:NAME", ...
	Finding string
	// Image, when set, limits the exception to one image: its name in the
	// configuration, its reference as written, its registry/repository, or
	// registry/repository@digest.
	Image string
	// Reason is required: why the violation is accepted.
	Reason string
	// Expires is required; the exception applies through that day (UTC).
	Expires time.Time
	// Owner is who to ask when it expires.
	Owner string
}

// Validate reports a missing reason or expiry and an unknown rule.
func (e Exception) Validate() error {
	var problems []string
	if !knownRule(e.Rule) {
		if strings.TrimSpace(e.Rule) == "" {
			problems = append(problems, "rule is required (one of "+strings.Join(RuleIDs, ", ")+")")
		} else {
			problems = append(problems, fmt.Sprintf("rule %q is not one of %s", e.Rule, strings.Join(RuleIDs, ", ")))
		}
	}
	if strings.TrimSpace(e.Reason) == "" {
		problems = append(problems, "reason is required: say why the violation is accepted")
	}
	if e.Expires.IsZero() {
		problems = append(problems, "expires is required (YYYY-MM-DD): every exception must end")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("exception for %s: %s", e.describe(), strings.Join(problems, "; "))
}

func (e Exception) expired(now time.Time) bool {
	return !e.Expires.IsZero() && !now.Before(e.Expires.AddDate(0, 0, 1))
}

// describe names the exception in messages: rule, finding and image.
func (e Exception) describe() string {
	s := orDash(e.Rule)
	if e.Finding != "" {
		s += fmt.Sprintf(" (finding %q", e.Finding)
		if e.Image != "" {
			s += fmt.Sprintf(", image %q", e.Image)
		}
		s += ")"
	} else if e.Image != "" {
		s += fmt.Sprintf(" (image %q)", e.Image)
	}
	return s
}

func (e Exception) matches(v Violation, facts ImageFacts) bool {
	if e.Rule != v.Rule {
		return false
	}
	if e.Finding != "" && !findingMatches(v.Rule, e.Finding, v.Subject) {
		return false
	}
	if e.Image != "" && !imageMatches(e.Image, facts) {
		return false
	}
	return true
}

func findingMatches(rule, finding, subject string) bool {
	finding = strings.TrimSpace(finding)
	switch rule {
	case RuleForbiddenPorts, RuleAllowedPorts:
		p, err := parsePortPattern(finding)
		return err == nil && p.matches(subject)
	case RuleForbiddenPaths:
		return cleanPath(finding) == cleanPath(subject)
	case RuleForbiddenPackages:
		return strings.EqualFold(finding, subject)
	}
	return finding == subject
}

func imageMatches(want string, facts ImageFacts) bool {
	want = strings.TrimSpace(want)
	repo := facts.repositoryName()
	for _, c := range []string{facts.Name, facts.Ref, repo, repo + "@" + facts.Digest} {
		if c != "" && c == want {
			return true
		}
	}
	return repo != "" && normalizeRepoName(want) == repo
}

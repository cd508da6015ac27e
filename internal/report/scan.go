// Package report turns policy decisions into the words users read: the
// summary and detail of plan diagnostics (and, later, JSON/SARIF reports).
package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// MaxListed bounds how many violations one diagnostic lists; the rest are
// counted.
const MaxListed = 25

// DB is the vulnerability database a decision was made with: the one type
// for it from the scanner to the messages, reports and predicates (which
// write it in their own formats).
type DB struct {
	SchemaVersion int
	UpdatedAt     time.Time
	NextUpdate    time.Time
	// Source is where it came from: a repository, a server URL, or "cache".
	Source string
}

// Version is `<schema version>@<UpdatedAt>`, as imageguard_pin records it.
func (d DB) Version() string {
	return fmt.Sprintf("%d@%s", d.SchemaVersion, d.UpdatedAt.UTC().Format(time.RFC3339))
}

// ScanFailure is the diagnostic for an image that failed the scan gate:
// vulnerabilities, secrets, and OS releases without advisory data
// (OS-UNSUPPORTED) or past their end of life (OS-EOSL).
func ScanFailure(image, digest string, db DB, threshold policy.Severity, violations []policy.Violation, now time.Time) (summary, detail string) {
	var vulns, secrets, unsupported, eosl, unscored, unseen, kev, epss int
	worst := policy.SeverityUnknown
	for _, v := range violations {
		switch {
		case v.Rule == policy.RuleUnscored:
			unscored++
		case v.Rule == policy.RuleOSPackagesUnseen:
			unseen++
		case v.Rule == policy.RuleKnownExploited:
			kev++
		case v.Rule == policy.RuleEPSS:
			epss++
		case v.Finding != nil:
			vulns++
			if s, _ := policy.ParseSeverity(v.Finding.Severity); s > worst {
				worst = s
			}
		case v.Secret != nil:
			secrets++
		case v.Rule == policy.RuleOSUnsupported:
			unsupported++
		case v.Rule == policy.RuleOSEOSL:
			eosl++
		}
	}
	var what, counted []string
	if vulns > 0 {
		what = append(what, fmt.Sprintf("%s vulnerabilities", worst))
		counted = append(counted, fmt.Sprintf("%d finding(s) at or above %s", vulns, threshold))
	}
	if kev > 0 {
		what = append(what, "known exploited vulnerabilities")
		counted = append(counted, fmt.Sprintf("%d finding(s) listed in CISA's Known Exploited Vulnerabilities catalog, whatever their severity (%s)", kev, policy.RuleKnownExploited))
	}
	if epss > 0 {
		what = append(what, "vulnerabilities likely to be exploited")
		counted = append(counted, fmt.Sprintf("%d finding(s) with an EPSS score above the gate's epss_above (%s)", epss, policy.RuleEPSS))
	}
	if secrets > 0 {
		what = append(what, "baked-in secrets")
		counted = append(counted, fmt.Sprintf("%d secret(s)", secrets))
	}
	if eosl > 0 {
		what = append(what, "an end-of-life OS release")
		counted = append(counted, fmt.Sprintf("%d platform(s) on an end-of-life OS release (%s)", eosl, policy.RuleOSEOSL))
	}
	if unsupported > 0 {
		what = append(what, "an OS release without vulnerability data")
		counted = append(counted, fmt.Sprintf("%d platform(s) on an OS release the vulnerability database does not cover (%s)", unsupported, policy.RuleOSUnsupported))
	}
	if unscored > 0 {
		what = append(what, "vulnerabilities nobody scored yet")
		counted = append(counted, fmt.Sprintf("%d finding(s) with no severity yet, which the threshold cannot place (%s)", unscored, policy.RuleUnscored))
	}
	if unseen > 0 {
		what = append(what, "an OS whose packages cannot be seen")
		counted = append(counted, fmt.Sprintf("%d platform(s) with an OS but no readable OS package database (%s)", unseen, policy.RuleOSPackagesUnseen))
	}
	if len(what) == 0 {
		what = append(what, fmt.Sprintf("%s vulnerabilities", worst))
	}
	summary = "Image has " + joinAnd(what)

	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) failed the scan gate", image, digest)
	if len(counted) > 0 {
		b.WriteString(": " + joinAnd(counted))
	}
	fmt.Fprintf(&b, ".\nVulnerability database: version %d, updated %s (%s old)", db.SchemaVersion, db.UpdatedAt.UTC().Format(time.RFC3339), Age(now.Sub(db.UpdatedAt)))
	if db.Source != "" {
		fmt.Fprintf(&b, ", from %s", db.Source)
	}
	b.WriteString(".\n\n")
	for i, v := range violations {
		if i == MaxListed {
			fmt.Fprintf(&b, "  … and %d more (see the data source's `violations` output)\n", len(violations)-MaxListed)
			break
		}
		b.WriteString("  - ")
		b.WriteString(Line(v))
		b.WriteString("\n")
	}
	var todo []string
	if vulns > 0 || kev > 0 || epss > 0 {
		todo = append(todo, "upgrade the packages listed (rebuild on a patched base image)")
	}
	if kev > 0 {
		todo = append(todo, "fix the known exploited ones first, before their KEV due date")
	}
	if secrets > 0 {
		todo = append(todo, "remove the secrets from the image (files, env, build history), rotate them and rebuild")
	}
	if eosl > 0 || unsupported > 0 {
		todo = append(todo, "rebuild on a supported OS release the vulnerability database covers (update the base image; update the database or its mirror if the release is newer than it)")
	}
	if unscored > 0 {
		todo = append(todo, "read the advisories of the unscored findings and upgrade or accept each (`unknown_severity = \"warn\"` reports them without failing)")
	}
	if unseen > 0 {
		todo = append(todo, "keep the OS package database in the image so its packages can be checked")
	}
	b.WriteString("\nWhat to do: " + strings.Join(todo, ", ") + ", ")
	id := "…"
	only := func(n int) bool { return n > 0 && n == vulns+secrets+eosl+unsupported+unscored+unseen+kev+epss }
	switch {
	case only(eosl):
		id = policy.RuleOSEOSL
	case only(unsupported):
		id = policy.RuleOSUnsupported
	case only(unseen):
		id = policy.RuleOSPackagesUnseen
	}
	fmt.Fprintf(&b, "or, for an accepted risk, add an `ignore { id = %q, reason = \"…\", expires = \"YYYY-MM-DD\" }` block", id)
	if vulns > 0 {
		b.WriteString("; `ignore_unfixed = true` skips findings with no fix, and `severity_threshold` sets the bar")
	}
	b.WriteString(". `enforcement = \"warn\"` reports without failing (audit mode).")
	return summary, b.String()
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(parts []string) string {
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// Line is one violation on one line: severity, id, package, installed →
// fixed, platform, target.
func Line(v policy.Violation) string {
	switch {
	case v.Finding != nil:
		f := v.Finding
		fixed := f.FixedVersion
		if fixed == "" {
			fixed = "no fix (" + strings.ReplaceAll(orDash(f.Status), "_", " ") + ")"
		}
		s := fmt.Sprintf("%s %s in %s %s → %s", f.Severity, f.ID, f.Package, f.InstalledVersion, fixed)
		if f.Platform != "" {
			s += " [" + f.Platform + "]"
		}
		if f.Target != "" {
			s += " (" + f.Target + ")"
		}
		if f.Title != "" {
			s += ": " + f.Title
		}
		if v.Exploit != "" {
			s += " — " + v.Exploit
		}
		return s
	case v.Secret != nil:
		s := v.Secret
		out := fmt.Sprintf("%s secret %s (%s) in %s", s.Severity, s.RuleID, s.Category, s.Target)
		if s.Line > 0 {
			out += fmt.Sprintf(" line %d", s.Line)
		}
		if s.Platform != "" {
			out += " [" + s.Platform + "]"
		}
		return out
	}
	return v.Found + " (requires " + v.Requires + "; " + v.Fix + ")"
}

// Age renders a duration in days and hours, as people say an age.
func Age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	days := int(d.Hours()) / 24
	hours := int(d.Hours()) % 24
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	default:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

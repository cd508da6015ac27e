package report

import (
	jsonv1 "encoding/json"
	"encoding/json/jsontext"
	"encoding/json/v2"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// SchemaVersion names the JSON report's schema; it changes only when a
// field is removed or changes meaning (adding a field keeps "v1").
const SchemaVersion = "imageguard.report/v1"

// PolicySeverity is the severity reports give violations of rules that have
// none of their own (configuration rules, signatures): they fail the gate
// like a HIGH finding does.
const PolicySeverity = "HIGH"

// Report is every image a gate judged, in a stable, versioned JSON form
// (see JSON) that CI can archive and diff, and that SARIF is made from.
//
// The JSON document, schema "imageguard.report/v1":
//
//	{
//	  "schema_version": "imageguard.report/v1",
//	  "generated_at": "2026-11-22T10:00:00Z",      // RFC 3339, UTC
//	  "passed": false,                             // true when every image passed
//	  "db": {                                      // absent when no vulnerability database was used
//	    "version": 2,
//	    "updated_at": "2026-11-22T06:00:00Z",
//	    "source": "mirror.example.com/aquasec/trivy-db:2"   // absent when unknown
//	  },
//	  "images": [                                  // sorted by name, then ref, then digest
//	    {
//	      "name": "api",                           // the image's name in the configuration; the ref when it has none
//	      "ref": "registry.example.com/team/api:1.4.2",    // as written
//	      "digest": "sha256:…",                    // the digest judged
//	      "passed": false,                         // true when "violations" is empty
//	      "counts": {
//	        "violations": 2, "suppressed": 1, "warnings": 0,
//	        "by_severity": {"critical": 0, "high": 2, "medium": 0, "low": 0, "unknown": 0},
//	        "by_rule": {"forbidden_ports": 1, "severity": 1}   // keys sorted; only rules that occur
//	      },
//	      "violations": [                          // sorted by rule, subject, package, target, platform
//	        {
//	          "rule": "severity",                  // the rule id: severity, secret, signature, or a configuration rule
//	          "subject": "CVE-2023-5363",          // what violates it: CVE id, secret rule id, port "22/tcp", package, path, label, …
//	          "package": "openssl",                // vulnerabilities only
//	          "target": "alpine 3.23.2 (alpine)",  // vulnerabilities and secrets only: where Trivy found it
//	          "found": "HIGH CVE-2023-5363 in openssl 3.1.3-r0",
//	          "requires": "no finding at or above HIGH",
//	          "fix": "upgrade openssl to 3.1.4-r0 or later",
//	          "platform": "linux/amd64",           // "" for a single-platform image judged without one
//	          "severity": "HIGH",                  // CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN; HIGH for rules without a severity
//	          "kev": {"date_added": "2026-11-30", "due_date": "2026-12-21", "ransomware_use": "Known"},  // listed in CISA KEV; absent otherwise
//	          "epss": {"score": 0.43, "percentile": 0.97, "date": "2026-12-05"}                     // FIRST EPSS; absent without a score
//	        }
//	      ],
//	      "suppressed": [                          // violations an ignore or exception accepted; sorted like violations
//	        {"rule": "forbidden_ports", "subject": "22/tcp", "platform": "linux/amd64",
//	         "reason": "exception: bastion image (until 2027-01-31, owner alice)"}   // rule "ignore" for scan ignores; "kev" when the finding is listed in CISA KEV
//	      ],
//	      "warnings": []                           // e.g. expired ignores and exceptions; sorted
//	    }
//	  ]
//	}
//
// Arrays are always present (empty, never null); "package" and "target"
// are omitted when empty; every other field is always present.
type Report struct {
	GeneratedAt time.Time
	// DB is the vulnerability database used; nil when none was.
	DB     *DB
	Images []ImageResult
}

// ImageResult is one image's verdict.
type ImageResult struct {
	// Name is the image's name in the configuration; JSON uses Ref when empty.
	Name   string
	Ref    string
	Digest string
	// Violations fail the gate; the image passed when there are none.
	Violations []Violation
	Suppressed []Suppressed
	Warnings   []string
}

// Violation is one violation as reports show it.
type Violation struct {
	Rule     string `json:"rule"`
	Subject  string `json:"subject"`
	Package  string `json:"package,omitempty"`
	Target   string `json:"target,omitempty"`
	Found    string `json:"found"`
	Requires string `json:"requires"`
	Fix      string `json:"fix"`
	Platform string `json:"platform"`
	Severity string `json:"severity"`
	// KEV and EPSS are what exploitation data says about a finding.
	KEV  *KEV  `json:"kev,omitempty"`
	EPSS *EPSS `json:"epss,omitempty"`
}

// KEV is a finding's listing in CISA's Known Exploited Vulnerabilities
// catalog.
type KEV struct {
	DateAdded  string `json:"date_added"`
	DueDate    string `json:"due_date,omitempty"`
	Ransomware string `json:"ransomware_use,omitempty"`
}

// EPSS is a finding's FIRST EPSS score.
type EPSS struct {
	Score      float64 `json:"score"`
	Percentile float64 `json:"percentile"`
	Date       string  `json:"date"`
}

// KEVOf and EPSSOf convert exploitation data; nil in, nil out.
func KEVOf(k *policy.KEVListing) *KEV {
	if k == nil {
		return nil
	}
	return &KEV{DateAdded: k.DateAdded, DueDate: k.DueDate, Ransomware: k.Ransomware}
}

// EPSSOf converts an EPSS score; nil in, nil out.
func EPSSOf(e *policy.EPSSScore) *EPSS {
	if e == nil {
		return nil
	}
	return &EPSS{Score: e.Score, Percentile: e.Percentile, Date: e.Date}
}

// Suppressed is a violation an ignore or an exception accepted.
type Suppressed struct {
	Rule     string `json:"rule"`
	Subject  string `json:"subject"`
	Package  string `json:"package,omitempty"`
	Platform string `json:"platform"`
	Reason   string `json:"reason"`
	// KEV is set when an ignore accepted a finding listed in CISA KEV.
	KEV *KEV `json:"kev,omitempty"`
}

// FromViolation converts a policy violation: a finding's or secret's id is
// its subject, and rules without a severity get PolicySeverity.
func FromViolation(v policy.Violation) Violation {
	out := Violation{Rule: v.Rule, Subject: v.Subject, Found: v.Found, Requires: v.Requires, Fix: v.Fix, Platform: v.Platform, Severity: PolicySeverity}
	switch {
	case v.Finding != nil:
		f := v.Finding
		if out.Subject == "" {
			out.Subject = f.ID
		}
		out.Package, out.Target = f.Package, f.Target
		out.KEV, out.EPSS = KEVOf(f.KEV), EPSSOf(f.EPSS)
		out.Severity = normalizeSeverity(f.Severity)
		if out.Platform == "" {
			out.Platform = f.Platform
		}
	case v.Secret != nil:
		s := v.Secret
		if out.Subject == "" {
			out.Subject = s.RuleID
		}
		out.Target = s.Target
		out.Severity = normalizeSeverity(s.Severity)
		if out.Platform == "" {
			out.Platform = s.Platform
		}
	}
	return out
}

// FromSuppression converts a policy suppression; scan ignores (which name
// no rule) get the rule "ignore".
func FromSuppression(s policy.Suppression) Suppressed {
	if s.Rule != "" {
		return Suppressed{Rule: s.Rule, Subject: s.Subject, Platform: s.Platform, Reason: s.Reason}
	}
	return Suppressed{Rule: "ignore", Subject: s.ID, Package: s.Package, Platform: s.Platform, Reason: s.Reason, KEV: KEVOf(s.KEV)}
}

func normalizeSeverity(s string) string {
	sev, err := policy.ParseSeverity(s)
	if err != nil {
		return policy.SeverityUnknown.String()
	}
	return sev.String()
}

type jsonReport struct {
	SchemaVersion string      `json:"schema_version"`
	GeneratedAt   string      `json:"generated_at"`
	Passed        bool        `json:"passed"`
	DB            *jsonDB     `json:"db,omitempty"`
	Images        []jsonImage `json:"images"`
}

type jsonDB struct {
	Version   int    `json:"version"`
	UpdatedAt string `json:"updated_at"`
	Source    string `json:"source,omitempty"`
}

type jsonImage struct {
	Name       string       `json:"name"`
	Ref        string       `json:"ref"`
	Digest     string       `json:"digest"`
	Passed     bool         `json:"passed"`
	Counts     jsonCounts   `json:"counts"`
	Violations []Violation  `json:"violations"`
	Suppressed []Suppressed `json:"suppressed"`
	Warnings   []string     `json:"warnings"`
}

type jsonCounts struct {
	Violations int            `json:"violations"`
	Suppressed int            `json:"suppressed"`
	Warnings   int            `json:"warnings"`
	BySeverity jsonSeverities `json:"by_severity"`
	ByRule     map[string]int `json:"by_rule"`
}

type jsonSeverities struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Unknown  int `json:"unknown"`
}

// normalized returns a sorted deep copy of the report, with defaults
// filled in: what both JSON and SARIF write.
func (r Report) normalized() Report {
	out := Report{GeneratedAt: r.GeneratedAt.UTC(), DB: r.DB}
	for _, img := range r.Images {
		n := ImageResult{Name: img.Name, Ref: img.Ref, Digest: img.Digest}
		if n.Name == "" {
			n.Name = n.Ref
		}
		n.Violations = append([]Violation{}, img.Violations...)
		for i := range n.Violations {
			if n.Violations[i].Severity == "" {
				n.Violations[i].Severity = PolicySeverity
			} else {
				n.Violations[i].Severity = normalizeSeverity(n.Violations[i].Severity)
			}
		}
		sort.SliceStable(n.Violations, func(i, j int) bool { return violationKey(n.Violations[i]) < violationKey(n.Violations[j]) })
		n.Suppressed = append([]Suppressed{}, img.Suppressed...)
		sort.SliceStable(n.Suppressed, func(i, j int) bool {
			a, b := n.Suppressed[i], n.Suppressed[j]
			return strings.Join([]string{a.Rule, a.Subject, a.Package, a.Platform, a.Reason}, "\x00") <
				strings.Join([]string{b.Rule, b.Subject, b.Package, b.Platform, b.Reason}, "\x00")
		})
		n.Warnings = sortedUnique(img.Warnings)
		out.Images = append(out.Images, n)
	}
	sort.SliceStable(out.Images, func(i, j int) bool {
		a, b := out.Images[i], out.Images[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Ref != b.Ref {
			return a.Ref < b.Ref
		}
		return a.Digest < b.Digest
	})
	return out
}

func violationKey(v Violation) string {
	return strings.Join([]string{v.Rule, v.Subject, v.Package, v.Target, v.Platform, v.Found}, "\x00")
}

func sortedUnique(in []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// JSON renders the report as schema imageguard.report/v1 (documented on
// Report): indented, sorted, and byte-for-byte the same for the same input.
func JSON(r Report) (string, error) {
	n := r.normalized()
	doc := jsonReport{SchemaVersion: SchemaVersion, GeneratedAt: n.GeneratedAt.Format(time.RFC3339), Passed: true, Images: []jsonImage{}}
	if n.DB != nil {
		doc.DB = &jsonDB{Version: n.DB.SchemaVersion, UpdatedAt: n.DB.UpdatedAt.UTC().Format(time.RFC3339), Source: n.DB.Source}
	}
	for _, img := range n.Images {
		ji := jsonImage{
			Name: img.Name, Ref: img.Ref, Digest: img.Digest,
			Passed:     len(img.Violations) == 0,
			Violations: img.Violations,
			Suppressed: img.Suppressed,
			Warnings:   img.Warnings,
			Counts: jsonCounts{
				Violations: len(img.Violations),
				Suppressed: len(img.Suppressed),
				Warnings:   len(img.Warnings),
				ByRule:     map[string]int{},
			},
		}
		for _, v := range img.Violations {
			ji.Counts.ByRule[v.Rule]++
			switch v.Severity {
			case "CRITICAL":
				ji.Counts.BySeverity.Critical++
			case "HIGH":
				ji.Counts.BySeverity.High++
			case "MEDIUM":
				ji.Counts.BySeverity.Medium++
			case "LOW":
				ji.Counts.BySeverity.Low++
			default:
				ji.Counts.BySeverity.Unknown++
			}
		}
		doc.Passed = doc.Passed && ji.Passed
		doc.Images = append(doc.Images, ji)
	}
	return encodeJSON(doc)
}

// encodeJSON renders v as encoding/json renders it with two-space indents,
// "<", ">" and "&" left readable, map keys sorted and a final newline, into
// a string of exactly its size. A fleet's report runs to tens of MB at the
// end of a plan: a growing buffer and a copy into a string would hold it
// three times over, so it is measured first and then written once.
func encodeJSON(v any) (string, error) {
	// DefaultOptionsV1 is in Go 1.26 under GOEXPERIMENT=jsonv2, which every
	// build of this module sets; stdversion dates it by its release in 1.27.
	opts := json.JoinOptions(jsonv1.DefaultOptionsV1(), jsontext.WithIndent("  "), jsontext.EscapeForHTML(false)) //nolint:govet // see above
	var size countingWriter
	if err := json.MarshalWrite(&size, v, opts); err != nil {
		return "", fmt.Errorf("encoding report: %w", err)
	}
	var b strings.Builder
	b.Grow(int(size) + 1)
	if err := json.MarshalWrite(&b, v, opts); err != nil {
		return "", fmt.Errorf("encoding report: %w", err)
	}
	b.WriteByte('\n')
	return b.String(), nil
}

// countingWriter counts what is written to it.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

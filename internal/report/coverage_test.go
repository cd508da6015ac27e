package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

const covDigest = "sha256:4444444444444444444444444444444444444444444444444444444444444444"

func coverageDecision(t *testing.T, c policy.Coverage, findings ...policy.Finding) policy.ScanDecision {
	t.Helper()
	return policy.EvaluateScan(findings, nil, []policy.Coverage{c}, policy.ScanRules{Threshold: policy.SeverityHigh}, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
}

func TestScanFailureCoverage(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	db := DB{SchemaVersion: 2, UpdatedAt: now.Add(-2 * time.Hour), Source: "mirror.example.com/aquasec/trivy-db:2"}
	base := policy.Coverage{Image: "registry.example.com/team/api:1", Digest: covDigest, Platform: "linux/amd64", Family: "alpine", Release: "3.9.6", Supported: true,
		Database: "version 2, updated 2026-12-01T06:00:00Z, from mirror.example.com/aquasec/trivy-db:2"}
	eol := base
	eol.EOSL = true
	newer := base
	newer.Release, newer.Supported, newer.Unsupported = "3.30.0", false, `the database has no "alpine 3.30" advisories`
	high := policy.Finding{ID: "CVE-2025-26519", Severity: "HIGH", Package: "musl", InstalledVersion: "1.2.5-r0", FixedVersion: "1.2.5-r1", Status: "fixed", Platform: "linux/amd64"}

	cases := []struct {
		name     string
		decision policy.ScanDecision
		summary  string
		detail   []string
	}{
		{"end of life only", coverageDecision(t, eol), "Image has an end-of-life OS release", []string{
			"registry.example.com/team/api:1 (" + covDigest + ") failed the scan gate: 1 platform(s) on an end-of-life OS release (OS-EOSL).",
			"Vulnerability database: version 2", "alpine 3.9.6 is end of life", "linux/amd64",
			"What to do: rebuild on a supported OS release", "`ignore { id = \"OS-EOSL\", reason = \"…\", expires = \"YYYY-MM-DD\" }`"}},
		{"no advisory data only", coverageDecision(t, newer), "Image has an OS release without vulnerability data", []string{
			"1 platform(s) on an OS release the vulnerability database does not cover (OS-UNSUPPORTED)",
			`alpine 3.30.0 is not covered by the vulnerability database (version 2, updated 2026-12-01T06:00:00Z, from mirror.example.com/aquasec/trivy-db:2): the database has no "alpine 3.30" advisories`,
			"update the database or its mirror", "`ignore { id = \"OS-UNSUPPORTED\""}},
		{"finding and end of life", coverageDecision(t, eol, high), "Image has HIGH vulnerabilities and an end-of-life OS release", []string{
			"1 finding(s) at or above HIGH and 1 platform(s) on an end-of-life OS release (OS-EOSL)",
			"upgrade the packages listed", "rebuild on a supported OS release", "`ignore { id = \"…\""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.decision.Passed() {
				t.Fatal("decision passed")
			}
			summary, detail := ScanFailure("registry.example.com/team/api:1", covDigest, db, policy.SeverityHigh, tc.decision.Violations, now)
			if summary != tc.summary {
				t.Errorf("summary = %q, want %q", summary, tc.summary)
			}
			for _, w := range tc.detail {
				if !strings.Contains(detail, w) {
					t.Errorf("detail lacks %q:\n%s", w, detail)
				}
			}
		})
	}
}

func TestCoverageInReports(t *testing.T) {
	c := policy.Coverage{Image: "registry.example.com/team/api:1", Digest: covDigest, Platform: "linux/amd64", Family: "alpine", Release: "3.9.6",
		Unsupported: `the database has no "alpine 3.9" advisories`, EOSL: true, Database: "version 2"}
	d := coverageDecision(t, c)
	img := ImageResult{Name: "api", Ref: c.Image, Digest: covDigest}
	for _, v := range d.Violations {
		img.Violations = append(img.Violations, FromViolation(v))
	}
	rep := Report{GeneratedAt: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), Images: []ImageResult{img}}

	raw, err := asBytes(JSON(rep))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Images []struct {
			Counts struct {
				ByRule map[string]int `json:"by_rule"`
			} `json:"counts"`
			Violations []Violation `json:"violations"`
		} `json:"images"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	vs := doc.Images[0].Violations
	if len(vs) != 2 || vs[0].Rule != "OS-EOSL" || vs[1].Rule != "OS-UNSUPPORTED" {
		t.Fatalf("violations = %+v", vs)
	}
	for _, v := range vs {
		if v.Subject != "alpine 3.9.6" || v.Platform != "linux/amd64" || v.Severity != PolicySeverity || v.Fix == "" || v.Requires == "" {
			t.Errorf("violation %+v", v)
		}
	}
	if doc.Images[0].Counts.ByRule["OS-EOSL"] != 1 || doc.Images[0].Counts.ByRule["OS-UNSUPPORTED"] != 1 {
		t.Errorf("by_rule = %v", doc.Images[0].Counts.ByRule)
	}
	schema := compileSchema(t, "report-v1.schema.json")
	var inst any
	if err := json.Unmarshal(raw, &inst); err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(inst); err != nil {
		t.Errorf("report does not match its schema: %v", err)
	}

	sraw, err := asBytes(SARIF(rep, "1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	sdoc := parseSARIF(t, sraw)
	rules := sdoc.Runs[0].Tool.Driver.Rules
	if len(rules) != 2 {
		t.Fatalf("rules = %+v", rules)
	}
	for _, r := range rules {
		// A catalog entry, not the generic fallback for unknown rules.
		if strings.Contains(r.ShortDescription.Text, "imageguard rule") || !strings.Contains(r.Help.Text, `ignore { id = "`+r.ID+`" }`) {
			t.Errorf("rule %s has no description of its own: %+v", r.ID, r)
		}
	}
	if rules[0].Name != "OSEndOfLife" || rules[1].Name != "OSUnsupported" {
		t.Errorf("rule names = %s, %s", rules[0].Name, rules[1].Name)
	}
	if len(sdoc.Runs[0].Results) != 2 || sdoc.Runs[0].Results[0].Level != "error" {
		t.Errorf("results = %+v", sdoc.Runs[0].Results)
	}
}

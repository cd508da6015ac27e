package policy

import (
	"strings"
	"testing"
	"time"
)

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestEvaluateScan(t *testing.T) {
	now := date("2026-11-22").Add(10 * time.Hour)
	high := Finding{ID: "CVE-2025-26519", Severity: "HIGH", Package: "musl", InstalledVersion: "1.2.5-r0", FixedVersion: "1.2.5-r1", Status: "fixed", Platform: "linux/amd64"}
	crit := Finding{ID: "CVE-2023-45853", Severity: "CRITICAL", Package: "zlib1g", InstalledVersion: "1:1.2.13", Status: "will_not_fix", Platform: "linux/amd64"}
	medium := Finding{ID: "CVE-2024-58251", Severity: "MEDIUM", Package: "busybox", InstalledVersion: "1.36.1-r29", FixedVersion: "1.36.1-r30", Status: "fixed", Platform: "linux/amd64"}
	unknownSev := Finding{ID: "CVE-2099-0001", Severity: "", Package: "x", Status: "fixed", FixedVersion: "2"}
	secret := Secret{RuleID: "aws-access-key-id", Category: "AWS", Severity: "CRITICAL", Target: "/app/.env", Line: 3, Platform: "linux/amd64"}

	type want struct {
		violations []string // Found of each violation, in order
		ignored    []string // ID of each suppression
		warnings   []string // substrings, one per warning
	}
	cases := []struct {
		name     string
		findings []Finding
		secrets  []Secret
		rules    ScanRules
		want     want
	}{
		{"HIGH finding with fix, threshold HIGH → violation", []Finding{high}, nil, ScanRules{Threshold: SeverityHigh},
			want{violations: []string{"HIGH CVE-2025-26519 in musl 1.2.5-r0"}}},
		{"MEDIUM finding, threshold HIGH → pass", []Finding{medium}, nil, ScanRules{Threshold: SeverityHigh}, want{}},
		{"MEDIUM finding, threshold MEDIUM → violation", []Finding{medium}, nil, ScanRules{Threshold: SeverityMedium},
			want{violations: []string{"MEDIUM CVE-2024-58251 in busybox 1.36.1-r29"}}},
		{"threshold UNKNOWN counts findings without a severity", []Finding{unknownSev}, nil, ScanRules{Threshold: SeverityUnknown},
			want{violations: []string{" CVE-2099-0001 in x "}}},
		{"violations sorted worst first", []Finding{medium, high, crit}, nil, ScanRules{Threshold: SeverityLow},
			want{violations: []string{"CRITICAL CVE-2023-45853", "HIGH CVE-2025-26519", "MEDIUM CVE-2024-58251"}}},
		{"unfixed CRITICAL with ignore_unfixed → ignored, pass", []Finding{crit}, nil, ScanRules{Threshold: SeverityHigh, IgnoreUnfixed: true},
			want{ignored: []string{"CVE-2023-45853"}}},
		{"unfixed CRITICAL without ignore_unfixed → violation", []Finding{crit}, nil, ScanRules{Threshold: SeverityHigh},
			want{violations: []string{"CRITICAL CVE-2023-45853"}}},
		{"ignore with reason and future expiry suppresses", []Finding{high}, nil,
			ScanRules{Threshold: SeverityHigh, Ignores: []Ignore{{ID: "CVE-2025-26519", Reason: "not reachable", Expires: date("2027-01-31")}}},
			want{ignored: []string{"CVE-2025-26519"}}},
		{"ignore valid through its expiry day", []Finding{high}, nil,
			ScanRules{Threshold: SeverityHigh, Ignores: []Ignore{{ID: "CVE-2025-26519", Reason: "r", Expires: date("2026-11-22")}}},
			want{ignored: []string{"CVE-2025-26519"}}},
		{"expired ignore no longer suppresses and warns", []Finding{high}, nil,
			ScanRules{Threshold: SeverityHigh, Ignores: []Ignore{{ID: "CVE-2025-26519", Reason: "r", Expires: date("2026-11-21")}}},
			want{violations: []string{"HIGH CVE-2025-26519"}, warnings: []string{"CVE-2025-26519 expired on 2026-11-21"}}},
		{"ignore limited to other packages does not apply", []Finding{high}, nil,
			ScanRules{Threshold: SeverityHigh, Ignores: []Ignore{{ID: "CVE-2025-26519", Reason: "r", Packages: []string{"musl-utils"}}}},
			want{violations: []string{"HIGH CVE-2025-26519"}}},
		{"ignore limited to the package applies", []Finding{high}, nil,
			ScanRules{Threshold: SeverityHigh, Ignores: []Ignore{{ID: "cve-2025-26519", Reason: "r", Packages: []string{"musl"}}}},
			want{ignored: []string{"CVE-2025-26519"}}},
		{"secret → violation at any threshold", nil, []Secret{secret}, ScanRules{Threshold: SeverityCritical},
			want{violations: []string{"CRITICAL secret (aws-access-key-id) in /app/.env line 3"}}},
		{"secret ignored by rule id", nil, []Secret{secret}, ScanRules{Threshold: SeverityHigh, Ignores: []Ignore{{ID: "aws-access-key-id", Reason: "test fixture key"}}},
			want{ignored: []string{"aws-access-key-id"}}},
		{"nothing found → pass", nil, nil, ScanRules{Threshold: SeverityLow}, want{}},
		{"unscored finding, threshold HIGH, default → unknown-severity violation naming it", []Finding{unknownSev}, nil, ScanRules{Threshold: SeverityHigh},
			want{violations: []string{"- CVE-2099-0001 in x: no severity assigned yet"}}},
		{"finding scored UNKNOWN, threshold CRITICAL, fail → violation", []Finding{{ID: "CVE-2099-0002", Severity: "UNKNOWN", Package: "y"}}, nil, ScanRules{Threshold: SeverityCritical, Unscored: UnscoredFail},
			want{violations: []string{"UNKNOWN CVE-2099-0002 in y"}}},
		{"unscored finding, warn → pass with a warning naming it", []Finding{unknownSev}, nil, ScanRules{Threshold: SeverityHigh, Unscored: UnscoredWarn},
			want{warnings: []string{"CVE-2099-0001 in x has no severity yet"}}},
		{"unscored finding, ignore → pass, recorded as ignored", []Finding{unknownSev}, nil, ScanRules{Threshold: SeverityHigh, Unscored: UnscoredIgnore},
			want{ignored: []string{"CVE-2099-0001"}}},
		{"unscored finding accepted by an ignore block → ignored, not a violation", []Finding{unknownSev}, nil,
			ScanRules{Threshold: SeverityHigh, Ignores: []Ignore{{ID: "CVE-2099-0001", Reason: "advisory read: not reachable"}}},
			want{ignored: []string{"CVE-2099-0001"}}},
		{"unscored unfixed finding with ignore_unfixed → recorded as ignored", []Finding{{ID: "CVE-2099-0003", Package: "z", Status: "affected"}}, nil,
			ScanRules{Threshold: SeverityHigh, IgnoreUnfixed: true},
			want{ignored: []string{"CVE-2099-0003"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := EvaluateScan(tc.findings, tc.secrets, nil, tc.rules, now)
			if len(d.Violations) != len(tc.want.violations) {
				t.Fatalf("violations = %d %+v, want %v", len(d.Violations), d.Violations, tc.want.violations)
			}
			for i, w := range tc.want.violations {
				if !strings.Contains(d.Violations[i].Found, w) {
					t.Errorf("violation %d = %q, want it to contain %q", i, d.Violations[i].Found, w)
				}
				if d.Violations[i].Fix == "" || d.Violations[i].Requires == "" {
					t.Errorf("violation %d lacks Fix/Requires", i)
				}
			}
			if len(d.Ignored) != len(tc.want.ignored) {
				t.Fatalf("ignored = %+v, want %v", d.Ignored, tc.want.ignored)
			}
			for i, w := range tc.want.ignored {
				if d.Ignored[i].ID != w || d.Ignored[i].Reason == "" {
					t.Errorf("ignored %d = %+v, want %s with a reason", i, d.Ignored[i], w)
				}
			}
			if len(d.Warnings) != len(tc.want.warnings) {
				t.Fatalf("warnings = %v, want %v", d.Warnings, tc.want.warnings)
			}
			for i, w := range tc.want.warnings {
				if !strings.Contains(d.Warnings[i], w) {
					t.Errorf("warning %q lacks %q", d.Warnings[i], w)
				}
			}
			if d.Passed() != (len(tc.want.violations) == 0) {
				t.Errorf("Passed() = %v", d.Passed())
			}
		})
	}
}

func TestParseSeverity(t *testing.T) {
	for i, n := range SeverityNames {
		got, err := ParseSeverity(strings.ToLower(n))
		if err != nil || int(got) != i || got.String() != n {
			t.Fatalf("%s: %v %v", n, got, err)
		}
	}
	if _, err := ParseSeverity("SEVERE"); err == nil || !strings.Contains(err.Error(), "UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL") {
		t.Fatalf("got %v", err)
	}
}

func TestEvaluateScanCoverage(t *testing.T) {
	now := date("2026-12-01").Add(8 * time.Hour)
	const dgst = "sha256:aaaa"
	covered := Coverage{Image: "reg/app:1", Digest: dgst, Platform: "linux/amd64", Family: "alpine", Release: "3.22.1", Supported: true, Database: "version 2, updated 2026-12-01T06:00:00Z"}
	newer := covered
	newer.Release, newer.Supported, newer.Unsupported = "3.30.0", false, `the database has no "alpine 3.30" advisories`
	eol := covered
	eol.Release, eol.EOSL = "3.9.6", true
	eolNoData := eol
	eolNoData.Supported, eolNoData.Unsupported = false, `the database has no "alpine 3.9" advisories`
	arm := newer
	arm.Platform, arm.Digest = "linux/arm64", "sha256:bbbb"
	noPackages := covered
	noPackages.NoPackages = true
	high := Finding{ID: "CVE-2025-26519", Severity: "HIGH", Package: "musl", InstalledVersion: "1.2.5-r0", FixedVersion: "1.2.5-r1", Status: "fixed", Platform: "linux/amd64"}

	type want struct {
		rules    []string // Rule of each violation, in order
		ignored  []string // ID of each suppression
		warnings []string // substrings
	}
	cases := []struct {
		name     string
		findings []Finding
		coverage []Coverage
		ignores  []Ignore
		want     want
	}{
		{"covered, supported release, nothing found → pass", nil, []Coverage{covered}, nil, want{}},
		{"no coverage entry (no OS detected, or OS not scanned) → pass", nil, nil, nil, want{}},
		{"release without advisory data → OS-UNSUPPORTED", nil, []Coverage{newer}, nil, want{rules: []string{RuleOSUnsupported}}},
		{"end-of-life release with data → OS-EOSL", nil, []Coverage{eol}, nil, want{rules: []string{RuleOSEOSL}}},
		{"end-of-life release without data → both", nil, []Coverage{eolNoData}, nil, want{rules: []string{RuleOSEOSL, RuleOSUnsupported}}},
		{"each platform judged on its own", nil, []Coverage{covered, arm}, nil, want{rules: []string{RuleOSUnsupported}}},
		{"coverage violation beside a finding", []Finding{high}, []Coverage{eol}, nil, want{rules: []string{"severity", RuleOSEOSL}}},
		{"ignore OS-EOSL with reason and expiry accepts it", nil, []Coverage{eol},
			[]Ignore{{ID: "OS-EOSL", Reason: "replaced by Q1", Expires: date("2027-01-31")}}, want{ignored: []string{RuleOSEOSL}}},
		{"ignore id is case-insensitive", nil, []Coverage{newer},
			[]Ignore{{ID: "os-unsupported", Reason: "vendor feed checked by hand", Expires: date("2027-01-31")}}, want{ignored: []string{RuleOSUnsupported}}},
		{"ignore OS-EOSL does not accept OS-UNSUPPORTED", nil, []Coverage{eolNoData},
			[]Ignore{{ID: "OS-EOSL", Reason: "r", Expires: date("2027-01-31")}}, want{rules: []string{RuleOSUnsupported}, ignored: []string{RuleOSEOSL}}},
		{"expired ignore no longer accepts and warns", nil, []Coverage{eol},
			[]Ignore{{ID: "OS-EOSL", Reason: "r", Expires: date("2026-11-30")}}, want{rules: []string{RuleOSEOSL}, warnings: []string{"OS-EOSL expired on 2026-11-30"}}},
		{"ignore limited to another OS family does not apply", nil, []Coverage{eol},
			[]Ignore{{ID: "OS-EOSL", Reason: "r", Packages: []string{"debian"}}}, want{rules: []string{RuleOSEOSL}}},
		{"ignore limited to the OS family applies", nil, []Coverage{eol},
			[]Ignore{{ID: "OS-EOSL", Reason: "r", Packages: []string{"alpine"}}}, want{ignored: []string{RuleOSEOSL}}},
		{"OS detected, package database deleted → OS-PACKAGES-UNSEEN", nil, []Coverage{noPackages}, nil, want{rules: []string{RuleOSPackagesUnseen}}},
		{"package database deleted, accepted with reason and expiry → ignored", nil, []Coverage{noPackages},
			[]Ignore{{ID: "OS-PACKAGES-UNSEEN", Reason: "distroless-style build, packages audited at build", Expires: date("2027-01-31")}}, want{ignored: []string{RuleOSPackagesUnseen}}},
		{"control: packages found on a covered OS → pass", nil, []Coverage{covered}, nil, want{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := EvaluateScan(tc.findings, nil, tc.coverage, ScanRules{Threshold: SeverityHigh, Ignores: tc.ignores}, now)
			var rules []string
			for _, v := range d.Violations {
				rules = append(rules, v.Rule)
			}
			if strings.Join(rules, ",") != strings.Join(tc.want.rules, ",") {
				t.Fatalf("violations = %v, want %v", rules, tc.want.rules)
			}
			var ignored []string
			for _, s := range d.Ignored {
				ignored = append(ignored, s.ID)
				if !strings.Contains(s.Reason, "ignore: ") || s.Platform == "" {
					t.Errorf("suppression %+v lacks a reason or platform", s)
				}
			}
			if strings.Join(ignored, ",") != strings.Join(tc.want.ignored, ",") {
				t.Fatalf("ignored = %v, want %v", ignored, tc.want.ignored)
			}
			if len(d.Warnings) != len(tc.want.warnings) {
				t.Fatalf("warnings = %v, want %v", d.Warnings, tc.want.warnings)
			}
			for i, w := range tc.want.warnings {
				if !strings.Contains(d.Warnings[i], w) {
					t.Errorf("warning %q lacks %q", d.Warnings[i], w)
				}
			}
			if d.Passed() != (len(tc.want.rules) == 0) {
				t.Errorf("Passed() = %v", d.Passed())
			}
		})
	}
}

func TestCoverageViolationMessages(t *testing.T) {
	c := Coverage{Image: "reg.example.com/app:1", Digest: "sha256:aaaa", Platform: "linux/amd64", Family: "alpine", Release: "3.9.6",
		Unsupported: `the database has no "alpine 3.9" advisories`, EOSL: true, Database: "version 2, updated 2026-12-01T06:00:00Z"}
	vs := coverageViolations(c)
	if len(vs) != 2 {
		t.Fatalf("violations = %+v", vs)
	}
	for _, v := range vs {
		msg := v.Found + " | " + v.Requires + " | " + v.Fix
		for _, want := range []string{"reg.example.com/app:1", "sha256:aaaa", "linux/amd64", "alpine 3.9.6", "version 2, updated 2026-12-01T06:00:00Z",
			`ignore { id = "` + v.Rule + `"`, "expires", "base image"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s message lacks %q:\n%s", v.Rule, want, msg)
			}
		}
		if v.Subject != "alpine 3.9.6" || v.Platform != "linux/amd64" || v.Digest != "sha256:aaaa" {
			t.Errorf("%s: subject/platform/digest = %q %q %q", v.Rule, v.Subject, v.Platform, v.Digest)
		}
	}
	if !strings.Contains(vs[0].Found, `no "alpine 3.9" advisories`) || !strings.Contains(vs[1].Found, "end of life") {
		t.Errorf("reasons missing: %q / %q", vs[0].Found, vs[1].Found)
	}
}

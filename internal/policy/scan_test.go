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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := EvaluateScan(tc.findings, tc.secrets, tc.rules, now)
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

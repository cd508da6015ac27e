package attest

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	dbTypes "github.com/aquasecurity/trivy-db/pkg/types"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

func vuln(id, pkg, installed, fixed, severity string, status dbTypes.Status) types.DetectedVulnerability {
	return types.DetectedVulnerability{VulnerabilityID: id, PkgName: pkg, InstalledVersion: installed, FixedVersion: fixed, Status: status,
		Vulnerability: dbTypes.Vulnerability{Severity: severity, Title: id + " title"}} //nolint:staticcheck // Trivy's reports (and policies on them) still read Severity
}

func alpineReport() *types.Report {
	return &types.Report{
		SchemaVersion: 2, ArtifactName: "registry.example.com/team/api@sha256:aa", ArtifactType: "container_image",
		Metadata: types.Metadata{OS: &ftypes.OS{Family: "alpine", Name: "3.20.3"}, ImageID: "sha256:cfg"},
		Results: types.Results{
			{Target: "registry.example.com/team/api (alpine 3.20.3)", Class: types.ClassOSPkg, Type: "alpine",
				Packages: []ftypes.Package{{Name: "musl", Version: "1.2.5-r0"}},
				Vulnerabilities: []types.DetectedVulnerability{
					vuln("CVE-2025-26519", "musl", "1.2.5-r0", "1.2.5-r1", "HIGH", dbTypes.StatusFixed),
					vuln("CVE-2024-58251", "busybox", "1.36.1-r29", "1.36.1-r30", "MEDIUM", dbTypes.StatusFixed),
					vuln("CVE-2023-0001", "zlib", "1.3", "", "LOW", dbTypes.StatusAffected),
				}},
			{Target: "/app/config.env", Class: types.ClassSecret,
				Secrets: []types.DetectedSecret{{RuleID: "aws-access-key-id", Match: "aws_access_key_id=AKIA2E0A8F3B244C9986"}}},
		},
	}
}

// The predicate has exactly the layout `trivy --format cosign-vuln`
// writes, so Kyverno and policy-controller policies written for Trivy's
// attestations read it unchanged.
func TestVulnPredicateLayout(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	p, err := VulnPredicate(VulnInput{
		Image:        "registry.example.com/team/api@sha256:aa",
		Platforms:    []PlatformScan{{Platform: "linux/amd64", Digest: "sha256:aa", Report: alpineReport()}},
		DB:           report.DB{SchemaVersion: 2, UpdatedAt: start.Add(-6 * time.Hour), Source: "mirror.example.com/aquasec/trivy-db:2"},
		TrivyVersion: "0.74.0", StartedOn: start, FinishedOn: start.Add(3 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m any) []string {
		var out []string
		for k := range m.(map[string]any) {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	for _, c := range []struct {
		at   string
		obj  any
		want []string
	}{
		{"predicate", doc, []string{"invocation", "metadata", "scanner"}},
		{"invocation", doc["invocation"], []string{"builder.id", "event_id", "parameters", "uri"}},
		{"scanner", doc["scanner"], []string{"db", "result", "uri", "version"}},
		{"scanner.db", doc["scanner"].(map[string]any)["db"], []string{"uri", "version"}},
		{"metadata", doc["metadata"], []string{"scanFinishedOn", "scanStartedOn"}},
	} {
		if got := keys(c.obj); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s has keys %v, want %v", c.at, got, c.want)
		}
	}
	scanner := doc["scanner"].(map[string]any)
	if scanner["uri"] != "pkg:github/aquasecurity/trivy@0.74.0" || scanner["version"] != "0.74.0" {
		t.Errorf("scanner = %v %v", scanner["uri"], scanner["version"])
	}
	db := scanner["db"].(map[string]any)
	if db["uri"] != "mirror.example.com/aquasec/trivy-db:2" || db["version"] != "2@2026-03-01T04:00:00Z" {
		t.Errorf("db = %v", db)
	}
	md := doc["metadata"].(map[string]any)
	if md["scanStartedOn"] != "2026-03-01T10:00:00Z" || md["scanFinishedOn"] != "2026-03-01T10:00:03Z" {
		t.Errorf("metadata = %v", md)
	}
	// The result reads back as a Trivy report.
	var rep types.Report
	if err := json.Unmarshal(mustJSON(t, scanner["result"]), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ArtifactName != "registry.example.com/team/api@sha256:aa" || rep.Metadata.OS == nil || rep.Metadata.OS.Family != "alpine" {
		t.Errorf("report = %+v", rep)
	}
	if len(rep.Results) != 1 || len(rep.Results[0].Vulnerabilities) != 3 || len(rep.Results[0].Packages) != 0 {
		t.Fatalf("results = %+v; want the OS result with its three vulnerabilities and no package list", rep.Results)
	}
	if strings.Contains(string(raw), "AKIA2E0A8F3B244C9986") || strings.Contains(string(raw), "aws-access-key-id") {
		t.Error("the vulnerability predicate carries secret findings")
	}
}

func TestVulnPredicateLeavesOutWhatTheGateDidNotCount(t *testing.T) {
	ids := func(p *VulnInput) []string {
		pred, err := VulnPredicate(*p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range pred.Scanner.Result.Results {
			for _, v := range r.Vulnerabilities {
				out = append(out, r.Target+" "+v.VulnerabilityID)
			}
		}
		sort.Strings(out)
		return out
	}
	target := "registry.example.com/team/api (alpine 3.20.3)"
	for _, tc := range []struct {
		name string
		in   VulnInput
		want []string
	}{
		{"nothing ignored: every finding", VulnInput{Platforms: []PlatformScan{{Report: alpineReport()}}},
			[]string{target + " CVE-2023-0001", target + " CVE-2024-58251", target + " CVE-2025-26519"}},
		{"an ignore of one CVE in its package", VulnInput{Platforms: []PlatformScan{{Report: alpineReport()}}, Omit: []Omission{{ID: "cve-2025-26519", Package: "musl"}}},
			[]string{target + " CVE-2023-0001", target + " CVE-2024-58251"}},
		{"an ignore for another package leaves the finding", VulnInput{Platforms: []PlatformScan{{Report: alpineReport()}}, Omit: []Omission{{ID: "CVE-2025-26519", Package: "busybox"}}},
			[]string{target + " CVE-2023-0001", target + " CVE-2024-58251", target + " CVE-2025-26519"}},
		{"ignore_unfixed drops findings without a fix", VulnInput{Platforms: []PlatformScan{{Report: alpineReport()}}, IgnoreUnfixed: true},
			[]string{target + " CVE-2024-58251", target + " CVE-2025-26519"}},
		{"an index: each platform's targets, suffixed, ignores per platform",
			VulnInput{Platforms: []PlatformScan{{Platform: "linux/amd64", Report: alpineReport()}, {Platform: "linux/arm64", Report: alpineReport()}},
				Omit: []Omission{{ID: "CVE-2025-26519", Package: "musl", Platform: "linux/arm64"}}, IgnoreUnfixed: true},
			[]string{target + " (linux/amd64) CVE-2024-58251", target + " (linux/amd64) CVE-2025-26519", target + " (linux/arm64) CVE-2024-58251"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(&tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestVulnPredicateDoesNotChangeTheGatesReport(t *testing.T) {
	rep := alpineReport()
	before := string(mustJSON(t, rep))
	if _, err := VulnPredicate(VulnInput{Platforms: []PlatformScan{{Report: rep}}, Omit: []Omission{{ID: "CVE-2025-26519", Package: "musl"}}, IgnoreUnfixed: true}); err != nil {
		t.Fatal(err)
	}
	if after := string(mustJSON(t, rep)); after != before {
		t.Error("VulnPredicate changed the report it was given (shared with the scan cache)")
	}
	if _, err := VulnPredicate(VulnInput{}); err == nil {
		t.Error("a predicate without a scanned platform was made")
	}
	if _, err := VulnPredicate(VulnInput{Platforms: []PlatformScan{{Digest: "sha256:bb"}}}); err == nil || !strings.Contains(err.Error(), "sha256:bb") {
		t.Errorf("a platform without a report: %v", err)
	}
}

func TestVulnPredicateDBFromCacheHasNoURI(t *testing.T) {
	p, err := VulnPredicate(VulnInput{Platforms: []PlatformScan{{Report: alpineReport()}}, DB: report.DB{SchemaVersion: 2, Source: "cache"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Scanner.DB.URI != "" || !strings.HasPrefix(p.Scanner.DB.Version, "2@") {
		t.Errorf("db = %+v", p.Scanner.DB)
	}
}

func TestStatement(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	raw, err := Statement(Subject{Name: "registry.example.com/team/api", Digest: d}, VerdictPredicateType, map[string]any{"result": "passed"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example.com/team/api","digest":{"sha256":"` + d.Hex + `"}}],` +
		`"predicateType":"https://imageguard.dev/verdict/v1","predicate":{"result":"passed"}}`
	if string(raw) != want {
		t.Errorf("statement\n got %s\nwant %s", raw, want)
	}
	if _, err := Statement(Subject{Name: "x"}, VulnPredicateType, nil); err == nil {
		t.Error("a statement without a digest was made")
	}
	if _, err := Statement(Subject{Name: "x", Digest: d}, "", nil); err == nil {
		t.Error("a statement without a predicate type was made")
	}
}

func TestVerdictNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Verdict
		want string
	}{
		{"every gate clean", Verdict{Gates: Gates{Verify: &VerifyGate{}, Policy: &PolicyGate{}}}, "passed"},
		{"scan violations under warn", Verdict{Gates: Gates{Scan: ScanGate{Violations: []Violation{{Rule: "severity"}}}}}, "passed-with-warnings"},
		{"signature violations under warn", Verdict{Gates: Gates{Verify: &VerifyGate{Violations: []Violation{{Rule: "signature"}}}}}, "passed-with-warnings"},
		{"rule violations under warn", Verdict{Gates: Gates{Policy: &PolicyGate{Violations: []Violation{{Rule: "require_non_root"}}}}}, "passed-with-warnings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v
			v.Normalize()
			if v.Result != tc.want {
				t.Errorf("result = %q, want %q", v.Result, tc.want)
			}
			raw := string(mustJSON(t, v))
			if strings.Contains(raw, "null") {
				t.Errorf("a normalized verdict has null lists: %s", raw)
			}
		})
	}
	v := Verdict{Gates: Gates{Scan: ScanGate{Ignored: []Ignored{{ID: "B"}, {ID: "A", Package: "z"}, {ID: "A", Package: "a"}},
		Violations: []Violation{{Rule: "secret"}, {Rule: "severity", Message: "b"}, {Rule: "severity", Message: "a"}}}}}
	v.Normalize()
	if got := []string{v.Gates.Scan.Ignored[0].Package, v.Gates.Scan.Ignored[1].Package, v.Gates.Scan.Ignored[2].ID}; !reflect.DeepEqual(got, []string{"a", "z", "B"}) {
		t.Errorf("ignored order %v", got)
	}
	if got := []string{v.Gates.Scan.Violations[0].Rule, v.Gates.Scan.Violations[1].Message, v.Gates.Scan.Violations[2].Message}; !reflect.DeepEqual(got, []string{"secret", "a", "b"}) {
		t.Errorf("violation order %v", got)
	}
}

// A verdict signed while a gate ran under enforcement = "warn" says so at
// the top, even when nothing was found: that gate could not have stopped
// the image, and an admission policy that requires enforcement == "error"
// refuses it. Only gates that all ran under "error" make an "error"
// verdict (fail closed: a gate with no enforcement recorded is not one).
func TestVerdictSaysItWasSignedUnderWarn(t *testing.T) {
	errGate := ScanGate{Enforcement: "error"}
	for _, tc := range []struct {
		name       string
		v          Verdict
		want       string
		wantResult string
	}{
		{"every gate under error → error", Verdict{Gates: Gates{Scan: errGate, Verify: &VerifyGate{Enforcement: "error"}, Policy: &PolicyGate{Enforcement: "error"}}}, "error", "passed"},
		{"scan under warn, nothing found → warn", Verdict{Gates: Gates{Scan: ScanGate{Enforcement: "warn"}}}, "warn", "passed"},
		{"scan under warn with violations → warn", Verdict{Gates: Gates{Scan: ScanGate{Enforcement: "warn", Violations: []Violation{{Rule: "severity"}}}}}, "warn", "passed-with-warnings"},
		{"only the signature gate under warn → warn", Verdict{Gates: Gates{Scan: errGate, Verify: &VerifyGate{Enforcement: "warn"}}}, "warn", "passed"},
		{"only the hardening rules under warn → warn", Verdict{Gates: Gates{Scan: errGate, Policy: &PolicyGate{Enforcement: "warn"}}}, "warn", "passed"},
		{"a gate with no enforcement recorded → not error", Verdict{Gates: Gates{Scan: ScanGate{}}}, "warn", "passed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v
			v.Normalize()
			var doc map[string]any
			if err := json.Unmarshal(mustJSON(t, v), &doc); err != nil {
				t.Fatal(err)
			}
			if doc["enforcement"] != tc.want || doc["result"] != tc.wantResult {
				t.Errorf("enforcement = %v, result = %v; want %q, %q", doc["enforcement"], doc["result"], tc.want, tc.wantResult)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A team-local acceptance is visible to an org-wide admission policy: what
// an `ignore`, ignore_unfixed or a VEX statement took out of the result is
// in each result's ExperimentalModifiedFindings, as `trivy --format
// cosign-vuln --show-suppressed` writes it, with the reason and the expiry.
func TestVulnPredicateShowsWhatWasSuppressed(t *testing.T) {
	rep := alpineReport()
	rep.Results[0].ModifiedFindings = []types.ModifiedFinding{types.NewModifiedFinding(
		vuln("CVE-2022-0002", "openssl", "3.0.1", "3.0.2", "CRITICAL", dbTypes.StatusFixed),
		types.FindingStatusNotAffected, "vulnerable_code_not_in_execute_path", "vex.openvex.json")}
	expires := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	p, err := VulnPredicate(VulnInput{
		Platforms:     []PlatformScan{{Platform: "linux/amd64", Report: rep}},
		Omit:          []Omission{{ID: "CVE-2025-26519", Package: "musl", Platform: "linux/amd64", Reason: "ignore: no TLS server in this image (until 2027-01-31)", Expires: expires}},
		IgnoreUnfixed: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := mustJSON(t, p)
	// Read as a verifier does: the JSON, not Go values.
	var doc struct {
		Scanner struct {
			Result struct {
				Results []struct {
					Vulnerabilities []struct{ VulnerabilityID string }
					Modified        []struct {
						Type, Status, Statement, Source string
						Finding                         struct {
							VulnerabilityID, PkgName, Severity, ExpiresAt string
						}
					} `json:"ExperimentalModifiedFindings"`
				}
			} `json:"result"`
		} `json:"scanner"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Scanner.Result.Results) != 1 {
		t.Fatalf("results: %s", raw)
	}
	r := doc.Scanner.Result.Results[0]
	if len(r.Vulnerabilities) != 1 || r.Vulnerabilities[0].VulnerabilityID != "CVE-2024-58251" {
		t.Errorf("counted vulnerabilities %+v, want only CVE-2024-58251", r.Vulnerabilities)
	}
	got := map[string]string{}
	for _, m := range r.Modified {
		if m.Type != "vulnerability" {
			t.Errorf("modified finding of type %q", m.Type)
		}
		got[m.Finding.VulnerabilityID] = strings.Join([]string{m.Status, m.Statement, m.Source, m.Finding.PkgName, m.Finding.Severity, m.Finding.ExpiresAt}, " | ")
	}
	want := map[string]string{
		"CVE-2022-0002":  "not_affected | vulnerable_code_not_in_execute_path | vex.openvex.json | openssl | CRITICAL | ",
		"CVE-2025-26519": "ignored | ignore: no TLS server in this image (until 2027-01-31) | imageguard ignore | musl | HIGH | 2027-01-31",
		"CVE-2023-0001":  "ignored | ignore_unfixed: no fixed version (status affected) | imageguard ignore_unfixed | zlib | LOW | ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("suppressed findings\n got %v\nwant %v", got, want)
	}
	// Trivy reads its own field back.
	var back types.Report
	if err := json.Unmarshal(mustJSON(t, p.Scanner.Result), &back); err != nil || len(back.Results[0].ModifiedFindings) != 3 {
		t.Errorf("Trivy reads back %d modified findings (%v)", len(back.Results[0].ModifiedFindings), err)
	}
	// Control: nothing suppressed, no modified findings.
	clean, err := VulnPredicate(VulnInput{Platforms: []PlatformScan{{Report: alpineReport()}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mustJSON(t, clean)), "ExperimentalModifiedFindings") {
		t.Error("a predicate with nothing suppressed lists modified findings")
	}
}

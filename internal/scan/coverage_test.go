package scan

import (
	"context"
	"strings"
	"testing"
	"time"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

func TestReleaseBuckets(t *testing.T) {
	cases := []struct {
		family  ftypes.OSType
		release string
		want    string
	}{
		{ftypes.Alpine, "3.20.3", "alpine 3.20"},
		{ftypes.Alpine, "3.9", "alpine 3.9"},
		{ftypes.Debian, "12.8", "debian 12"},
		{ftypes.Ubuntu, "22.04", "ubuntu 22.04"},
		{ftypes.Ubuntu, "20.04-ESM", "ubuntu 20.04-ESM"},
		{ftypes.Alma, "9.4", "alma 9"},
		{ftypes.Rocky, "8.10", "rocky 8"},
		{ftypes.Oracle, "8.9", "Oracle Linux 8"},
		{ftypes.Amazon, "2 (Karoo)", "amazon linux 2"},
		{ftypes.Amazon, "2023.6.20241212", "amazon linux 2023"},
		{ftypes.Amazon, "2018.03", "amazon linux 1"},
		{ftypes.Azure, "3.0.20240101", "Azure Linux 3.0"},
		{ftypes.CBLMariner, "2.0.20240101", "CBL-Mariner 2.0"},
		{ftypes.Photon, "5.0", "Photon OS 5.0"},
	}
	for _, c := range cases {
		if got := releaseBuckets[c.family](c.release); got != c.want {
			t.Errorf("%s %s → %q, want %q", c.family, c.release, got, c.want)
		}
	}
}

func osReport(family ftypes.OSType, release string, eosl, detected bool) *types.Report {
	r := &types.Report{Metadata: types.Metadata{OS: &ftypes.OS{Family: family, Name: release, Eosl: eosl}}}
	if detected {
		r.Results = append(r.Results, types.Result{Target: "img (" + string(family) + " " + release + ")", Class: types.ClassOSPkg, Type: family})
	}
	return r
}

// A Scanner without a local database (server mode) judges coverage by
// Trivy's release list; end of life is judged at the time asked.
func TestCoverageWithoutLocalDatabase(t *testing.T) {
	dec2026 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	may2027 := time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)
	db := DBInfo{DB: report.DB{SchemaVersion: 2, UpdatedAt: dec2026.Add(-2 * time.Hour), Source: "trivy server https://trivy.example.com (Trivy 0.74.0)"}}
	cases := []struct {
		name                string
		report              *types.Report
		opts                Options
		now                 time.Time
		nilCoverage         bool
		supported, eosl     bool
		unsupportedFragment string
	}{
		{name: "no OS detected → not judged", report: &types.Report{}, now: dec2026, nilCoverage: true},
		{name: "secrets only → not judged", report: osReport(ftypes.Alpine, "3.30.1", false, false), opts: Options{Scanners: []string{ScannerSecret}}, now: dec2026, nilCoverage: true},
		{name: "library packages only → not judged", report: osReport(ftypes.Alpine, "3.30.1", false, true), opts: Options{PkgTypes: []string{PkgTypeLib}}, now: dec2026, nilCoverage: true},
		{name: "supported release", report: osReport(ftypes.Alpine, "3.22.1", false, true), now: dec2026, supported: true},
		{name: "the same release after its end of life", report: osReport(ftypes.Alpine, "3.22.1", false, true), now: may2027, supported: true, eosl: true},
		{name: "a cached report scanned before the end of life, judged after", report: osReport(ftypes.Alpine, "3.20.3", false, true), now: dec2026, supported: true, eosl: true},
		{name: "the report's own end-of-life flag counts", report: osReport(ftypes.Debian, "13", true, true), now: dec2026, supported: true, eosl: true},
		{name: "release newer than Trivy knows", report: osReport(ftypes.Alpine, "3.30.1", false, true), now: dec2026,
			unsupportedFragment: `cannot be queried for "alpine 3.30", and the release is not on Trivy's list of alpine releases`},
		{name: "OS without a Trivy detector", report: osReport("plan9", "4", false, false), now: dec2026,
			unsupportedFragment: "Trivy 0.74.0 has no vulnerability detector for plan9"},
		{name: "rolling distribution: no per-release data to miss", report: osReport(ftypes.Wolfi, "20230201", false, true), now: dec2026, supported: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Scanner{}
			c, err := s.Coverage(context.Background(), CoverageInput{Image: "reg/app:1", Platform: "linux/amd64", Digest: "sha256:aaaa", Report: tc.report, Options: tc.opts, DB: db}, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.nilCoverage {
				if c != nil {
					t.Fatalf("coverage = %+v, want none", c)
				}
				return
			}
			if c == nil {
				t.Fatal("no coverage")
			}
			if c.Supported != tc.supported || c.EOSL != tc.eosl {
				t.Errorf("supported, eosl = %v, %v; want %v, %v (%+v)", c.Supported, c.EOSL, tc.supported, tc.eosl, c)
			}
			if tc.unsupportedFragment != "" && !strings.Contains(c.Unsupported, tc.unsupportedFragment) {
				t.Errorf("Unsupported = %q, want it to contain %q", c.Unsupported, tc.unsupportedFragment)
			}
			if c.Supported && c.Unsupported != "" {
				t.Errorf("supported but Unsupported = %q", c.Unsupported)
			}
			if c.Image != "reg/app:1" || c.Digest != "sha256:aaaa" || c.Platform != "linux/amd64" || !strings.Contains(c.Database, "version 2, updated 2026-12-01T06:00:00Z, from trivy server") {
				t.Errorf("coverage = %+v", c)
			}
		})
	}
}

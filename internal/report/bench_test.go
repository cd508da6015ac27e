package report

import (
	"fmt"
	"testing"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// fleetReport is a report the size bench/scale.sh ends with: images ×
// findings violations each.
func fleetReport(images, findings int) Report {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	r := Report{GeneratedAt: now, DB: &DB{SchemaVersion: 2, UpdatedAt: now.Add(-time.Hour), Source: "mirror.example.com/aquasec/trivy-db:2"}}
	for i := range images {
		digest := fmt.Sprintf("sha256:%064d", i)
		var fs []policy.Finding
		for j := range findings {
			fs = append(fs, policy.Finding{ID: fmt.Sprintf("CVE-2026-%05d", j), Severity: "CRITICAL", Package: fmt.Sprintf("lib%d", j),
				InstalledVersion: "1.2.3-1", FixedVersion: "1.2.3-2", Status: "fixed", Target: "debian 12.8", Platform: "linux/amd64"})
		}
		scan := policy.EvaluateScan(fs, nil, nil, policy.ScanRules{Threshold: policy.SeverityCritical}, now)
		img := ImageResult{Name: fmt.Sprintf("app-%03d", i), Ref: fmt.Sprintf("registry.example.com/fleet/app-%03d:1", i), Digest: digest}
		for _, v := range scan.Violations {
			img.Violations = append(img.Violations, FromViolation(v))
		}
		r.Images = append(r.Images, img)
	}
	return r
}

// BenchmarkReportFleet renders a 100-image report; B/op is what the end of
// a fleet's plan allocates for report_json and report_sarif, and the
// reported MB is the size of the two strings.
func BenchmarkReportFleet(b *testing.B) {
	r := fleetReport(100, 300)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		js, err := JSON(r)
		if err != nil {
			b.Fatal(err)
		}
		sarif, err := SARIF(r, "1.2.3")
		if err != nil {
			b.Fatal(err)
		}
		size = len(js) + len(sarif)
	}
	b.ReportMetric(float64(size)/(1<<20), "MB-out")
}

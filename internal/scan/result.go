package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	dbTypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy/pkg/result"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/aquasecurity/trivy/pkg/vex"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// Finding and Secret are the policy layer's types: the scanner produces
// exactly what the gates judge.
type (
	Finding = policy.Finding
	Secret  = policy.Secret
)

// Suppressed is a finding a VEX statement took out.
type Suppressed struct {
	ID       string
	Package  string
	Platform string
	Reason   string
}

// Package is one installed package, for rules about what an image contains.
type Package struct {
	Name    string
	Version string
	Type    string
	Target  string
}

// Result is the outcome of scanning one platform image, after VEX.
type Result struct {
	Platform string
	Digest   string
	// OS is "family version" (e.g. "alpine 3.23.2"), empty if not detected.
	OS string
	// OSScanned is true when Trivy ran an OS package detector. It says
	// nothing about whether the database has advisories for the release:
	// Trivy runs its detector, finds nothing and reports no error for a
	// release it has no data for. Scanner.Coverage judges that.
	OSScanned  bool
	Targets    []string
	Findings   []Finding
	Secrets    []Secret
	Suppressed []Suppressed
	Packages   []Package
	// Report is Trivy's report as judged: this copy, after VEX and Trivy's
	// own post-processing, secret text already scrubbed. imageguard_attestation
	// signs it as the vulnerability predicate's result. Nil in a Result
	// from Scanner.Result.
	Report *types.Report

	// coverage is what Coverage needs, when Report is nil.
	coverage *coverageFacts
}

// Summarize applies VEX documents (OpenVEX, CycloneDX or CSAF, as Trivy reads
// them) to a copy of the report and converts it to plain values.
func Summarize(ctx context.Context, report *types.Report, platform, digest string, vexDocs []string) (*Result, error) {
	rep, err := copyReport(report)
	if err != nil {
		return nil, err
	}
	if len(vexDocs) > 0 {
		dir, err := os.MkdirTemp("", "imageguard-vex-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		var sources []vex.Source
		for i, doc := range vexDocs {
			p := filepath.Join(dir, fmt.Sprintf("vex-%d.json", i))
			if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
				return nil, err
			}
			sources = append(sources, vex.Source{Type: vex.TypeFile, FilePath: p})
		}
		if err := vex.Filter(ctx, &rep, vex.Options{Sources: sources}); err != nil {
			return nil, fmt.Errorf("reading `vex` documents: %s. Give OpenVEX, CycloneDX VEX or CSAF VEX JSON, as `trivy --vex` reads them", trimVEXPaths(err, dir))
		}
	}
	res, err := summarizeInPlace(ctx, &rep, platform, digest)
	if err != nil {
		return nil, err
	}
	res.Report = &rep
	return res, nil
}

// summarizeInPlace is Summarize without VEX on a report the caller owns and
// gives up: Trivy's post-processing changes it.
func summarizeInPlace(ctx context.Context, rep *types.Report, platform, digest string) (*Result, error) {
	// Trivy's own post-processing: de-duplicate, fill unknown severities.
	for i := range rep.Results {
		if err := result.FilterResult(ctx, &rep.Results[i], result.IgnoreConfig{}, result.FilterOptions{Severities: allSeverities()}); err != nil {
			return nil, err
		}
	}
	return convert(rep, platform, digest), nil
}

func trimVEXPaths(err error, dir string) string {
	return strings.ReplaceAll(err.Error(), dir+string(os.PathSeparator), "")
}

func copyReport(r *types.Report) (types.Report, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return types.Report{}, err
	}
	var out types.Report
	err = json.Unmarshal(b, &out)
	return out, err
}

func convert(rep *types.Report, platform, digest string) *Result {
	res := &Result{Platform: platform, Digest: digest}
	if rep.Metadata.OS != nil && rep.Metadata.OS.Family != "" {
		res.OS = strings.TrimSpace(string(rep.Metadata.OS.Family) + " " + rep.Metadata.OS.Name)
	}
	targets := map[string]bool{}
	for _, r := range rep.Results {
		switch r.Class {
		case types.ClassOSPkg:
			res.OSScanned = true
			targets["os: "+res.OS] = true
		case types.ClassLangPkg:
			files := map[string]bool{}
			for _, p := range r.Packages {
				if p.FilePath != "" {
					files[p.FilePath] = true
				}
			}
			if len(files) == 0 {
				targets[string(r.Type)+": "+r.Target] = true
			}
			for f := range files {
				targets[string(r.Type)+": "+f] = true
			}
		case types.ClassSecret:
			targets["secret: "+r.Target] = true
		}
		for _, p := range r.Packages {
			res.Packages = append(res.Packages, Package{Name: p.Name, Version: pkgVersion(p.Version, p.Release, p.Epoch), Type: string(r.Type), Target: firstNonEmpty(p.FilePath, r.Target)})
		}
		for _, v := range r.Vulnerabilities {
			res.Findings = append(res.Findings, Finding{
				ID:               v.VulnerabilityID,
				Severity:         v.Severity,
				Package:          v.PkgName,
				InstalledVersion: v.InstalledVersion,
				FixedVersion:     v.FixedVersion,
				Status:           v.Status.String(),
				Title:            v.Title,
				Target:           findingTarget(r, v.PkgPath, res.OS),
				Platform:         platform,
				PkgType:          string(r.Type),
			})
		}
		for _, s := range r.Secrets {
			res.Secrets = append(res.Secrets, Secret{
				RuleID: s.RuleID, Category: string(s.Category), Severity: s.Severity, Title: s.Title,
				Target: r.Target, Line: s.StartLine, Platform: platform,
			})
		}
		for _, m := range r.ModifiedFindings {
			if v, ok := m.Finding.(types.DetectedVulnerability); ok {
				res.Suppressed = append(res.Suppressed, Suppressed{ID: v.VulnerabilityID, Package: v.PkgName, Platform: platform,
					Reason: strings.TrimSpace(fmt.Sprintf("VEX %s: %s (%s)", m.Status, m.Statement, m.Source))})
			}
		}
	}
	for t := range targets {
		res.Targets = append(res.Targets, t)
	}
	sort.Strings(res.Targets)
	SortFindings(res.Findings)
	sort.Slice(res.Secrets, func(i, j int) bool {
		a, b := res.Secrets[i], res.Secrets[j]
		if severityRank(a.Severity) != severityRank(b.Severity) {
			return severityRank(a.Severity) > severityRank(b.Severity)
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.RuleID < b.RuleID
	})
	sort.Slice(res.Packages, func(i, j int) bool {
		a, b := res.Packages[i], res.Packages[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Target < b.Target
	})
	sort.Slice(res.Suppressed, func(i, j int) bool {
		if res.Suppressed[i].ID != res.Suppressed[j].ID {
			return res.Suppressed[i].ID < res.Suppressed[j].ID
		}
		return res.Suppressed[i].Package < res.Suppressed[j].Package
	})
	return res
}

// SortFindings orders findings by severity (worst first), then id, package,
// target and platform.
func SortFindings(f []Finding) {
	sort.SliceStable(f, func(i, j int) bool {
		a, b := f[i], f[j]
		if severityRank(a.Severity) != severityRank(b.Severity) {
			return severityRank(a.Severity) > severityRank(b.Severity)
		}
		for _, p := range [][2]string{{a.ID, b.ID}, {a.Package, b.Package}, {a.InstalledVersion, b.InstalledVersion}, {a.Target, b.Target}, {a.Platform, b.Platform}} {
			if p[0] != p[1] {
				return p[0] < p[1]
			}
		}
		return false
	})
}

// findingTarget names where a package was found: the OS (e.g. "alpine
// 3.23.2") for OS packages, else the file.
func findingTarget(r types.Result, pkgPath, os string) string {
	if r.Class == types.ClassOSPkg && os != "" {
		return os
	}
	return firstNonEmpty(pkgPath, r.Target)
}

func pkgVersion(version, release string, epoch int) string {
	v := version
	if release != "" {
		v += "-" + release
	}
	if epoch != 0 {
		v = fmt.Sprintf("%d:%s", epoch, v)
	}
	return v
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func allSeverities() []dbTypes.Severity {
	out := make([]dbTypes.Severity, 0, len(dbTypes.SeverityNames))
	for _, n := range dbTypes.SeverityNames {
		s, _ := dbTypes.NewSeverity(n)
		out = append(out, s)
	}
	return out
}

// ReportPlatform names the platform of a scanned image from its config, as
// os/arch[/variant].
func ReportPlatform(r *types.Report) string {
	c := r.Metadata.ImageConfig
	if c.OS == "" || c.Architecture == "" {
		return ""
	}
	p := c.OS + "/" + c.Architecture
	if c.Variant != "" {
		p += "/" + c.Variant
	}
	return p
}

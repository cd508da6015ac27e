package gate

import (
	"context"
	"fmt"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/exploit"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
)

// ScanSettings are the scan gate's inputs.
type ScanSettings struct {
	// Platforms selects platforms of an index; empty means every platform
	// a runtime could run.
	Platforms []string
	Rules     policy.ScanRules
	Options   scan.Options
	VEX       []string
	// Reports keeps Trivy's report on each result (Result.Report), for
	// a caller that signs it. Without it, and without VEX, a platform is
	// judged by its summary alone (see scanPlatform).
	Reports bool
	// Exploits loads exploitation data (CISA KEV, FIRST EPSS) once per
	// process; nil when the provider has none. Findings are annotated from
	// it after detection, on this worker (also in server mode), and judged
	// by Rules.Exploited.
	Exploits *exploit.Manager
	// Exploited is the gate's `exploited` block as configured; nil when
	// there is none.
	Exploited *ExploitedBlock
}

// Warning is something the user should read that does not fail the gate.
// Attr is relative to the block the gate runs in ("" is the image).
type Warning struct {
	Attr    Field
	Summary string
	Detail  string
}

// ScanOutcome is the scan gate's verdict on one image, all platforms
// together.
type ScanOutcome struct {
	Resolved *registry.Resolved
	DB       scan.DBInfo
	Results  []*scan.Result
	Decision policy.ScanDecision
	Warnings []Warning
	// Exploits is the exploitation data the findings were annotated from;
	// nil without any.
	Exploits *exploit.Catalog
	// Enforcement is the gate's (set by Judge).
	Enforcement report.Enforcement
}

// Passed reports whether no violation was found.
func (o *ScanOutcome) Passed() bool { return o.Decision.Passed() }

// Findings are every platform's findings.
func (o *ScanOutcome) Findings() []policy.Finding {
	var out []policy.Finding
	for _, r := range o.Results {
		out = append(out, r.Findings...)
	}
	return out
}

// JudgedDigests are the platform manifests the scan judged.
func (o *ScanOutcome) JudgedDigests() []string {
	out := make([]string, 0, len(o.Results))
	for _, r := range o.Results {
		out = append(out, r.Digest)
	}
	return out
}

// Scan scans every selected platform of a resolved image, with coverage
// (an OS release without advisory data, or at end of life) as part of the
// verdict, and judges all of it together. An error is a gate that could not
// be evaluated: never a pass.
func Scan(ctx context.Context, reg *registry.Client, scanner *scan.Scanner, resolved *registry.Resolved, s ScanSettings, now time.Time) (*ScanOutcome, error) {
	image := resolved.Ref.Input
	catalog, err := exploitCatalog(ctx, s)
	if err != nil {
		return nil, err
	}
	platforms, err := reg.Platforms(ctx, resolved, s.Platforms)
	if err != nil {
		return nil, &Error{Attr: attrForRegistryError(err), Summary: registry.KindOf(err).Summary(), Detail: err.Error(), Err: err}
	}
	out := &ScanOutcome{Resolved: resolved, Exploits: catalog}
	var findings []policy.Finding
	var secrets []policy.Secret
	var coverage []policy.Coverage
	for _, pm := range platforms {
		label := pm.Platform
		if label == "" {
			label = "single platform"
		}
		res, rep, db, err := scanPlatform(ctx, scanner, scan.Target{Resolved: resolved, Platform: pm}, s, label)
		if err != nil {
			return nil, err
		}
		out.DB = db
		res = annotated(catalog, res)
		pm.Platform = res.Platform
		out.Results = append(out.Results, res)
		findings = append(findings, res.Findings...)
		secrets = append(secrets, res.Secrets...)
		cov, err := scanner.Coverage(ctx, scan.CoverageInput{Image: image, Platform: pm.Platform, Digest: pm.Digest.String(), Report: rep, Result: res, Options: s.Options, DB: db}, now)
		if err != nil {
			return nil, &Error{Summary: "Scan failed", Detail: fmt.Sprintf("%s (%s, platform %s) could not be judged, so it cannot pass: %v", image, pm.Digest, pm.Platform, err), Err: err}
		}
		if cov != nil {
			coverage = append(coverage, *cov)
		}
		if len(res.Targets) == 0 {
			out.Warnings = append(out.Warnings, Warning{Summary: "Nothing scannable", Detail: fmt.Sprintf(
				"%s (%s, %s): Trivy found no OS, no language packages and no files it could check. The image passes only because nothing was found to judge; check `targets`.", image, pm.Digest, pm.Platform)})
		}
	}
	for _, w := range out.DB.Warnings {
		out.Warnings = append(out.Warnings, Warning{Summary: "Vulnerability database", Detail: w})
	}
	scan.SortFindings(findings)
	out.Decision = policy.EvaluateScan(findings, secrets, coverage, s.Rules, now)
	for _, w := range out.Decision.Warnings {
		out.Warnings = append(out.Warnings, Warning{Attr: FieldIgnore, Summary: "Expired ignore", Detail: fmt.Sprintf("%s: %s", image, w)})
	}
	out.Warnings = append(out.Warnings, exploitWarnings(image, resolved.Digest.String(), out.Decision)...)
	return out, nil
}

package attest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aquasecurity/trivy/pkg/report/predicate"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/package-url/packageurl-go"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

// PlatformScan is one platform image as the scan gate judged it.
type PlatformScan struct {
	// Platform is os/arch[/variant]; empty when the image does not say.
	Platform string
	Digest   string
	// Report is Trivy's report with VEX applied, as the gate judged it
	// (secret text already scrubbed by internal/scan).
	Report *types.Report
}

// Omission is a finding the gate did not count (an `ignore`, or
// ignore_unfixed at or above the threshold), moved out of the vulnerability
// predicate's findings into its suppressed ones, as `trivy --ignorefile`
// with `--show-suppressed` does.
type Omission struct {
	ID, Package, Platform string
	// Reason is why, as the gate said it, e.g. "ignore: no TLS server in
	// this image (until 2027-01-31)".
	Reason string
	// Expires is the last day an `ignore` applies; zero: never, or not an
	// ignore.
	Expires time.Time
}

// Sources of the suppressed findings imageguard adds (Trivy's Source is the
// ignore file or VEX document).
const (
	SourceIgnore        = "imageguard ignore"
	SourceIgnoreUnfixed = "imageguard ignore_unfixed"
	// SourceUnknownSeverity: unknown_severity = "ignore".
	SourceUnknownSeverity = "imageguard unknown_severity"
)

// SuppressedVulnerability is a vulnerability a gate did not count, as the
// Finding of a suppressed (modified) finding: Trivy's fields, and when an
// `ignore` with an expiry took it out, ExpiresAt (YYYY-MM-DD, the last day
// it applies), so an admission policy can refuse acceptances without one.
type SuppressedVulnerability struct {
	types.DetectedVulnerability
	ExpiresAt string `json:"ExpiresAt,omitempty"`
}

// VulnInput is what the vulnerability predicate is made of.
type VulnInput struct {
	// Image is the digest-pinned reference judged (the report's ArtifactName).
	Image     string
	Platforms []PlatformScan
	// Omit and IgnoreUnfixed take out what the gate did not count, as Trivy
	// does with an ignore file and --ignore-unfixed.
	Omit          []Omission
	IgnoreUnfixed bool
	DB            report.DB
	// TrivyVersion is the Trivy library that scanned, e.g. "0.74.0".
	TrivyVersion string
	// StartedOn and FinishedOn bound the judging; verifiers read
	// FinishedOn as the scan time (imageguard_verify's max_age).
	StartedOn, FinishedOn time.Time
}

// VulnPredicate builds the cosign vulnerability predicate with Trivy's own
// types (pkg/report/predicate), so the layout is exactly what `trivy
// --format cosign-vuln` writes: invocation, scanner {uri, version, db {uri,
// version}, result}, metadata {scanStartedOn, scanFinishedOn}. The result
// is one Trivy report: vulnerabilities only (no secrets, packages or
// misconfigurations), the gate's ignores moved to the suppressed ones. For a multi-platform
// index, every platform's results are in it, each target suffixed with its
// platform. Unlike Trivy, db names the database judged against. What the
// gate did not count (an `ignore`, ignore_unfixed, a VEX statement) is in
// each result's ExperimentalModifiedFindings, as Trivy writes it with
// --show-suppressed, with the reason (Statement), where it came from
// (Source) and an ignore's expiry (Finding.ExpiresAt): an org-wide
// admission policy sees team-local acceptances.
func VulnPredicate(in VulnInput) (*predicate.CosignVulnPredicate, error) {
	if len(in.Platforms) == 0 {
		return nil, errors.New("no platform was scanned")
	}
	type key struct{ id, pkg, platform string }
	omit := map[key]Omission{}
	for _, o := range in.Omit {
		omit[key{strings.ToUpper(o.ID), o.Package, o.Platform}] = o
	}
	rep := types.Report{
		SchemaVersion: 2,
		Trivy:         types.TrivyInfo{Version: in.TrivyVersion},
		CreatedAt:     in.FinishedOn.UTC(),
		ArtifactName:  in.Image,
		ArtifactType:  "container_image",
	}
	several := len(in.Platforms) > 1
	for i, p := range in.Platforms {
		if p.Report == nil {
			return nil, fmt.Errorf("platform %s (%s) has no report", p.Platform, p.Digest)
		}
		src, err := copyReport(p.Report)
		if err != nil {
			return nil, fmt.Errorf("copying the report of %s: %w", p.Digest, err)
		}
		if i == 0 {
			rep.Metadata = src.Metadata
			rep.ArtifactID = src.ArtifactID
		}
		if several {
			rep.Metadata = types.Metadata{OS: rep.Metadata.OS, RepoDigests: []string{in.Image}}
		}
		for _, r := range src.Results {
			if r.Class != types.ClassOSPkg && r.Class != types.ClassLangPkg {
				continue
			}
			out := types.Result{Target: r.Target, Class: r.Class, Type: r.Type}
			if several && p.Platform != "" {
				out.Target = fmt.Sprintf("%s (%s)", r.Target, p.Platform)
			}
			// What VEX took out is already there, as Trivy put it.
			for _, m := range r.ModifiedFindings {
				if m.Type == types.FindingTypeVulnerability {
					out.ModifiedFindings = append(out.ModifiedFindings, m)
				}
			}
			for _, v := range r.Vulnerabilities {
				if o, ok := omit[key{strings.ToUpper(v.VulnerabilityID), v.PkgName, p.Platform}]; ok {
					sv := SuppressedVulnerability{DetectedVulnerability: v}
					if !o.Expires.IsZero() {
						sv.ExpiresAt = o.Expires.UTC().Format(time.DateOnly)
					}
					source := SourceIgnore
					switch {
					case strings.HasPrefix(o.Reason, "ignore_unfixed"):
						source = SourceIgnoreUnfixed
					case strings.HasPrefix(o.Reason, "unknown_severity"):
						source = SourceUnknownSeverity
					}
					out.ModifiedFindings = append(out.ModifiedFindings, types.NewModifiedFinding(sv, types.FindingStatusIgnored, o.Reason, source))
					continue
				}
				if in.IgnoreUnfixed && !(policy.Finding{Status: v.Status.String(), FixedVersion: v.FixedVersion}).Fixed() {
					reason := "ignore_unfixed: no fixed version (status " + v.Status.String() + ")"
					out.ModifiedFindings = append(out.ModifiedFindings,
						types.NewModifiedFinding(SuppressedVulnerability{DetectedVulnerability: v}, types.FindingStatusIgnored, reason, SourceIgnoreUnfixed))
					continue
				}
				out.Vulnerabilities = append(out.Vulnerabilities, v)
			}
			rep.Results = append(rep.Results, out)
		}
	}
	uri := packageurl.NewPackageURL("github", "aquasecurity", "trivy", in.TrivyVersion, nil, "").ToString()
	db := predicate.DB{Version: in.DB.Version()}
	if in.DB.Source != "cache" {
		db.URI = in.DB.Source
	}
	return &predicate.CosignVulnPredicate{
		Scanner:  predicate.Scanner{URI: uri, Version: in.TrivyVersion, DB: db, Result: rep},
		Metadata: predicate.Metadata{ScanStartedOn: in.StartedOn.UTC(), ScanFinishedOn: in.FinishedOn.UTC()},
	}, nil
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

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

// Omission is a finding the gate did not count (an `ignore`), left out of
// the vulnerability predicate as `trivy --ignorefile` leaves it out.
type Omission struct {
	ID, Package, Platform string
}

// DB names the vulnerability database a verdict was made against.
type DB struct {
	SchemaVersion int
	UpdatedAt     time.Time
	NextUpdate    time.Time
	// Source is where it came from: a repository, a server URL, or "cache".
	Source string
}

// Version is `<schema version>@<UpdatedAt>`, as imageguard_pin records it.
func (d DB) Version() string {
	return fmt.Sprintf("%d@%s", d.SchemaVersion, d.UpdatedAt.UTC().Format(time.RFC3339))
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
	DB            DB
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
// misconfigurations), the gate's ignores left out. For a multi-platform
// index, every platform's results are in it, each target suffixed with its
// platform. Unlike Trivy, db names the database judged against.
func VulnPredicate(in VulnInput) (*predicate.CosignVulnPredicate, error) {
	if len(in.Platforms) == 0 {
		return nil, errors.New("no platform was scanned")
	}
	omit := map[Omission]bool{}
	for _, o := range in.Omit {
		omit[Omission{ID: strings.ToUpper(o.ID), Package: o.Package, Platform: o.Platform}] = true
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
			for _, v := range r.Vulnerabilities {
				if omit[Omission{ID: strings.ToUpper(v.VulnerabilityID), Package: v.PkgName, Platform: p.Platform}] {
					continue
				}
				if in.IgnoreUnfixed && !(policy.Finding{Status: v.Status.String(), FixedVersion: v.FixedVersion}).Fixed() {
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

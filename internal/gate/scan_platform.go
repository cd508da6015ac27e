package gate

import (
	"context"
	"fmt"

	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
)

// scanPlatform scans one platform image and returns what the gate judges.
// Without VEX documents and without s.Reports that is the scanner's
// summary (scan.Scanner.Result): a plan over many images decodes no full
// report and keeps none, and a cached image costs one small file read.
// VEX is applied to Trivy's report, which is then returned too. label
// names the platform in messages.
func scanPlatform(ctx context.Context, scanner *scan.Scanner, t scan.Target, s ScanSettings, label string) (*scan.Result, *types.Report, scan.DBInfo, error) {
	failed := func(err error) error {
		summary := "Scan failed"
		if k := registry.KindOf(err); k != registry.KindInternal {
			summary = k.Summary()
		}
		return &Error{Summary: summary, Detail: fmt.Sprintf("%s (%s, platform %s) could not be scanned, so it cannot pass: %v", t.Resolved.Ref.Input, t.Platform.Digest, label, err), Err: err}
	}
	if len(s.VEX) == 0 && !s.Reports {
		res, db, err := scanner.Result(ctx, t, s.Options)
		if err != nil {
			return nil, nil, db, failed(err)
		}
		return res, nil, db, nil
	}
	rep, db, err := scanner.Scan(ctx, t, s.Options)
	if err != nil {
		return nil, nil, db, failed(err)
	}
	platform := t.Platform.Platform
	if platform == "" {
		platform = scan.ReportPlatform(rep)
	}
	res, err := scan.Summarize(ctx, rep, platform, t.Platform.Digest.String(), s.VEX)
	if err != nil {
		return nil, nil, db, &Error{Attr: FieldVEX, Summary: "Invalid VEX document", Detail: err.Error(), Err: err}
	}
	return res, rep, db, nil
}

// detach copies the findings and secrets violations point into, so that a
// verdict kept until the plan ends holds its violations and not every
// finding of the scan (a violation's pointer would keep the whole slice).
func detach(viols []policy.Violation) []policy.Violation {
	out := make([]policy.Violation, len(viols))
	for i, v := range viols {
		if v.Finding != nil {
			f := *v.Finding
			v.Finding = &f
		}
		if v.Secret != nil {
			sec := *v.Secret
			v.Secret = &sec
		}
		out[i] = v
	}
	return out
}

package gate

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// PolicySettings are imageguard_policy's gates, each with its own
// enforcement ("error" or "warn"): one gate's warn never relaxes another.
type PolicySettings struct {
	Platforms        []string
	Rules            policy.Rules
	RulesEnforcement string
	// Scan is nil when no scan gate runs (and no rule needs a scan).
	Scan            *ScanSettings
	ScanEnforcement string
	// Verify is nil when no signature gate runs; Verifier then too.
	Verify            *VerifySettings
	Verifier          *verify.Verifier
	VerifyEnforcement string
	// Concurrency bounds how many unique digests are judged at once.
	Concurrency int
}

// ImageVerdict is the policy's verdict on one unique digest.
type ImageVerdict struct {
	Resolved   *registry.Resolved
	Violations []policy.Violation
	Ignored    []policy.Suppression
	Warnings   []string
	Counts     map[string]int64
	DB         *scan.DBInfo
	// Blocking is set when a gate under `error` found a violation.
	Blocking bool
	// Judged are the platform manifests judged.
	Judged []string
	// Err is set when a gate could not be evaluated: never a pass.
	Err error
}

// PolicyOutcome holds one verdict per unique digest.
type PolicyOutcome struct {
	verdicts map[string]*ImageVerdict
	// Judged counts the unique digests judged; Verified how many of them
	// went through the signature gate.
	Judged   int
	Verified atomic.Int64
}

// For is the verdict for an image resolved as r.
func (o *PolicyOutcome) For(r *registry.Resolved) *ImageVerdict { return o.verdicts[r.Pinned()] }

// Policy judges every image: each unique digest once however many names
// point at it, at most s.Concurrency at a time, under the name that sorts
// first for exceptions naming an image.
func Policy(ctx context.Context, reg *registry.Client, scanner *scan.Scanner, images map[string]*registry.Resolved, s PolicySettings, now time.Time) *PolicyOutcome {
	names := make([]string, 0, len(images))
	for n := range images {
		names = append(names, n)
	}
	sort.Strings(names)
	out := &PolicyOutcome{verdicts: map[string]*ImageVerdict{}}
	var order []string
	nameOf := map[string]string{}
	for _, n := range names {
		key := images[n].Pinned()
		if _, ok := out.verdicts[key]; !ok {
			out.verdicts[key] = &ImageVerdict{Resolved: images[n]}
			order = append(order, key)
			nameOf[key] = n
		}
	}
	out.Judged = len(order)
	concurrency := max(s.Concurrency, 1)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for _, key := range order {
		v := out.verdicts[key]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v.Err = judgeImage(ctx, reg, scanner, nameOf[key], v, s, now)
			if s.Verify != nil {
				out.Verified.Add(1)
			}
		}()
	}
	wg.Wait()
	return out
}

// judgeImage runs the scan, rule and signature gates on one digest.
func judgeImage(ctx context.Context, reg *registry.Client, scanner *scan.Scanner, name string, v *ImageVerdict, s PolicySettings, now time.Time) error {
	v.Counts = report.SeverityCounts(nil)
	var results map[string]*scan.Result
	if s.Scan != nil {
		out, err := Scan(ctx, reg, scanner, v.Resolved, *s.Scan, now)
		if err != nil {
			return err
		}
		db := out.DB
		v.DB = &db
		results = map[string]*scan.Result{}
		for _, r := range out.Results {
			results[r.Digest] = r
		}
		v.Counts = report.SeverityCounts(out.Findings())
		v.Violations = append(v.Violations, detach(out.Decision.Violations)...)
		v.Blocking = v.Blocking || (len(out.Decision.Violations) > 0 && s.ScanEnforcement != report.EnforcementWarn)
		v.Ignored = append(v.Ignored, out.Decision.Ignored...)
		for _, w := range out.Warnings {
			if w.Summary != "Vulnerability database" {
				v.Warnings = append(v.Warnings, w.Detail)
			}
		}
	}
	pms, err := reg.Platforms(ctx, v.Resolved, s.Platforms)
	if err != nil {
		return &Error{Attr: attrForRegistryError(err), Summary: registry.KindOf(err).Summary(), Detail: err.Error(), Err: err}
	}
	rules := &RulesOutcome{}
	for _, pm := range pms {
		v.Judged = append(v.Judged, pm.Digest.String())
		if err := rules.judge(ctx, reg, name, v.Resolved, pm, s.Rules, results[pm.Digest.String()], now); err != nil {
			return err
		}
	}
	v.Violations = append(v.Violations, rules.Violations...)
	v.Ignored = append(v.Ignored, rules.Excepted...)
	v.Warnings = append(v.Warnings, rules.Warnings...)
	v.Blocking = v.Blocking || (len(rules.Violations) > 0 && s.RulesEnforcement != report.EnforcementWarn)
	if s.Verify != nil {
		out, err := Verify(ctx, reg, s.Verifier, v.Resolved, *s.Verify)
		if err != nil {
			return err
		}
		v.Violations = append(v.Violations, out.Violations...)
		v.Blocking = v.Blocking || (len(out.Violations) > 0 && s.VerifyEnforcement != report.EnforcementWarn)
	}
	sort.SliceStable(v.Violations, func(i, j int) bool { return report.LineOf(v.Violations[i]) < report.LineOf(v.Violations[j]) })
	v.Warnings = dedupe(v.Warnings)
	return nil
}

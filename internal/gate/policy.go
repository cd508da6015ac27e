package gate

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

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
	RulesEnforcement report.Enforcement
	// Scan is nil when no scan gate runs (and no rule needs a scan).
	Scan            *ScanSettings
	ScanEnforcement report.Enforcement
	// Verify is nil when no signature gate runs; Verifier then too.
	Verify            *VerifySettings
	Verifier          *verify.Verifier
	VerifyEnforcement report.Enforcement
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
	// Judged are the platform manifests judged; Pinned may be handed out
	// unless Blocking (Judgement.Pinned).
	Judged []string
	Pinned name.Digest
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
func (o *PolicyOutcome) For(r *registry.Resolved) *ImageVerdict {
	return o.verdicts[r.Pinned().String()]
}

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
		key := images[n].Pinned().String()
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

// judgeImage runs the policy's gates on one digest (Judge) and keeps what
// the policy reports of them.
func judgeImage(ctx context.Context, reg *registry.Client, scanner *scan.Scanner, name string, v *ImageVerdict, s PolicySettings, now time.Time) error {
	v.Counts = report.SeverityCounts(nil)
	g := Gates{Now: now, Rules: &RulesGate{Scanner: scanner, Platforms: s.Platforms, Rules: s.Rules, Enforcement: s.RulesEnforcement}}
	if s.Scan != nil {
		g.Scan = &ScanGate{Scanner: scanner, Settings: *s.Scan, Enforcement: s.ScanEnforcement}
	}
	if s.Verify != nil {
		g.Verify = &VerifyGate{Verifier: s.Verifier, Settings: *s.Verify, Enforcement: s.VerifyEnforcement}
	}
	j, err := Judge(ctx, Target{Registry: reg, Resolved: v.Resolved, Name: name}, g)
	if err != nil {
		return err
	}
	if out := j.Scan; out != nil {
		db := out.DB
		v.DB = &db
		v.Counts = report.SeverityCounts(out.Findings())
		v.Ignored = append(v.Ignored, out.Decision.Ignored...)
		for _, w := range out.Warnings {
			if w.Summary != "Vulnerability database" {
				v.Warnings = append(v.Warnings, w.Detail)
			}
		}
	}
	v.Ignored = append(v.Ignored, j.Rules.Excepted...)
	v.Warnings = dedupe(append(v.Warnings, j.Rules.Warnings...))
	v.Violations = j.Violations()
	v.Blocking = j.Blocking
	v.Judged = j.Judged
	v.Pinned = j.Pinned
	return nil
}

// Resolve parses and resolves one reference.
func Resolve(ctx context.Context, reg *registry.Client, ref string) (*registry.Resolved, error) {
	parsed, err := reg.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	return reg.Resolve(ctx, parsed)
}

// ResolveAll resolves every name's reference, at most concurrency at a
// time (one manifest round trip each, not one after another, as terraform
// reads data sources). errs holds, per name, why its reference did not
// resolve.
func ResolveAll(ctx context.Context, reg *registry.Client, refs map[string]string, concurrency int) (resolved map[string]*registry.Resolved, errs map[string]error) {
	type result struct {
		name string
		r    *registry.Resolved
		err  error
	}
	results := make(chan result, len(refs))
	sem := make(chan struct{}, max(concurrency, 1))
	var wg sync.WaitGroup
	for n, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r, err := Resolve(ctx, reg, ref)
			results <- result{n, r, err}
		}()
	}
	wg.Wait()
	close(results)
	resolved, errs = map[string]*registry.Resolved{}, map[string]error{}
	for res := range results {
		if res.err != nil {
			errs[res.name] = res.err
			continue
		}
		resolved[res.name] = res.r
	}
	return resolved, errs
}

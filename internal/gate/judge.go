package gate

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// Kind names a gate: where its settings live, so that an error or a
// warning is attached to the block that holds them.
type Kind string

// The gates Judge runs, in the order it runs them.
const (
	KindScan   Kind = "scan"
	KindRules  Kind = "rules"
	KindVerify Kind = "verify"
)

// Target is one image to judge, resolved to a digest.
type Target struct {
	// Registry reads the image: its platforms, configs and files.
	Registry *registry.Client
	Resolved *registry.Resolved
	// Name is the image's key in a policy's `images` ("" elsewhere), for
	// exceptions that name an image.
	Name string
}

// ScanGate is the vulnerability and secret scan, under its enforcement.
type ScanGate struct {
	Scanner     *scan.Scanner
	Settings    ScanSettings
	Enforcement report.Enforcement
}

// RulesGate is the hardening rules, under their enforcement. Scanner
// serves rules that need Trivy's inventory (RulesNeedScan).
type RulesGate struct {
	Scanner     *scan.Scanner
	Platforms   []string
	Rules       policy.Rules
	Enforcement report.Enforcement
}

// VerifyGate is the signature and attestation gate, under its enforcement.
type VerifyGate struct {
	Verifier    *verify.Verifier
	Settings    VerifySettings
	Enforcement report.Enforcement
	// TLog is the verifier's transparency-log requirement ("required",
	// "optional"), as the verdict records it.
	TLog string
}

// Gates are the gates to run on a target, each under its own enforcement
// (one gate's warn never relaxes another); nil ones do not run. New gates
// plug in here.
type Gates struct {
	Scan   *ScanGate
	Rules  *RulesGate
	Verify *VerifyGate
	// Now is the time the verdict is judged at (ignore and exception
	// expiry, end of life, attestation age).
	Now time.Time
}

// Judgement is what the gates found on one target.
type Judgement struct {
	Target Target
	// Gates are the gates that ran, as given to Judge: what the verdict
	// records as the settings judged under.
	Gates Gates
	// Per-gate outcomes; nil for a gate that did not run.
	Scan   *ScanOutcome
	Rules  *RulesOutcome
	Verify *VerifyOutcome
	// Judged are the platform manifests every gate that ran judged.
	Judged []string
	// Pinned is the digest-pinned reference that may be handed out when
	// the judgement does not block (PinnedFor): exactly the manifest(s)
	// judged. It is set under `warn` too: audit mode hands out what it
	// audited.
	Pinned name.Digest
	// Blocking is set when a gate under enforcement "error" found a
	// violation.
	Blocking bool
}

// Blocks reports whether kind ran and found violations under "error".
func (j *Judgement) Blocks(kind Kind) bool {
	switch kind {
	case KindScan:
		return j.Scan != nil && !j.Scan.Passed() && !j.Scan.Enforcement.Warns()
	case KindRules:
		return j.Rules != nil && len(j.Rules.Violations) > 0 && !j.Rules.Enforcement.Warns()
	case KindVerify:
		return j.Verify != nil && !j.Verify.Passed() && !j.Verify.Enforcement.Warns()
	}
	return false
}

// Violations are every gate's violations, sorted by their sentence.
func (j *Judgement) Violations() []policy.Violation {
	var out []policy.Violation
	if j.Scan != nil {
		out = append(out, detach(j.Scan.Decision.Violations)...)
	}
	if j.Rules != nil {
		out = append(out, j.Rules.Violations...)
	}
	if j.Verify != nil {
		out = append(out, j.Verify.Violations...)
	}
	sort.SliceStable(out, func(a, b int) bool { return report.LineOf(out[a]) < report.LineOf(out[b]) })
	return out
}

// Judge runs the gates on one target: scan, then rules (on the scan's
// inventory when the scan read all of it), then signatures. An error is a
// gate that could not be evaluated, never a pass: it is an *Error whose
// Gate names the gate, and the judgement holds what ran before it.
func Judge(ctx context.Context, t Target, g Gates) (*Judgement, error) {
	j := &Judgement{Target: t, Gates: g}
	judged := map[Kind][]string{}
	var results map[string]*scan.Result
	if g.Scan != nil {
		out, err := Scan(ctx, t.Registry, g.Scan.Scanner, t.Resolved, g.Scan.Settings, g.Now)
		if err != nil {
			return j, inGate(KindScan, err)
		}
		out.Enforcement = g.Scan.Enforcement
		j.Scan = out
		judged[KindScan] = out.JudgedDigests()
		if reusableForRules(g.Scan.Settings.Options) {
			results = map[string]*scan.Result{}
			for _, r := range out.Results {
				results[r.Digest] = r
			}
		}
	}
	if g.Rules != nil {
		out, err := rules(ctx, t, *g.Rules, results, g.Now)
		if err != nil {
			return j, inGate(KindRules, err)
		}
		out.Enforcement = g.Rules.Enforcement
		j.Rules = out
		judged[KindRules] = out.Judged
	}
	if g.Verify != nil {
		out, err := Verify(ctx, t.Registry, g.Verify.Verifier, t.Resolved, g.Verify.Settings)
		if err != nil {
			return j, inGate(KindVerify, err)
		}
		out.Enforcement = g.Verify.Enforcement
		j.Verify = out
		judged[KindVerify] = out.Judged
	}
	j.Blocking = j.Blocks(KindScan) || j.Blocks(KindRules) || j.Blocks(KindVerify)
	if len(judged) == 0 {
		return j, nil // no gate ran: nothing judged, nothing to hand out
	}
	j.Judged = judgedByAll(judged)
	var err error
	j.Pinned, err = PinnedFor(t.Resolved, j.Judged)
	return j, err
}

// reusableForRules reports whether a scan with these options read the whole
// inventory the rules judge (every package type; secrets included), so that
// the rules need not scan again.
func reusableForRules(o scan.Options) bool {
	return len(o.Scanners) == 0 && len(o.PkgTypes) == 0
}

// judgedByAll are the manifests every gate judged: a manifest one gate
// skipped was not judged, whatever the others did.
func judgedByAll(judged map[Kind][]string) []string {
	var out []string
	first := true
	for _, kind := range []Kind{KindScan, KindRules, KindVerify} {
		ds, ok := judged[kind]
		if !ok {
			continue
		}
		if first {
			out, first = append([]string(nil), ds...), false
			continue
		}
		keep := map[string]bool{}
		for _, d := range ds {
			keep[d] = true
		}
		kept := out[:0]
		for _, d := range out {
			if keep[d] {
				kept = append(kept, d)
			}
		}
		out = kept
	}
	return out
}

// inGate marks an error with the gate it came from.
func inGate(kind Kind, err error) error {
	var ge *Error
	if errors.As(err, &ge) {
		if ge.Gate == "" {
			ge.Gate = kind
		}
		return ge
	}
	return &Error{Gate: kind, Summary: "Gate failed", Detail: err.Error(), Err: err}
}

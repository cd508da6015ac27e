package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

// gateInputs are the gates a data source or resource runs, as read from
// its configuration; nil ones do not run.
type gateInputs struct {
	Scan             *scanSettings
	Verify           *verifySettings
	Rules            *policy.Rules
	RulesEnforcement report.Enforcement
	// Platforms selects the platforms of an index the rules judge.
	Platforms []string
}

// judgeSite is where a judgement is reported: at is the attribute naming
// the image and blocks the blocks holding each gate's settings; who names
// the gates' owner in messages ("pin's") and context what a failure means
// ("cannot be approved"); kept is the verdict being judged again (nil for a
// new one).
type judgeSite struct {
	at           path.Path
	blocks       gateBlocks
	who, context string
	kept         *keptApproval
}

// keptApproval describes a verdict being re-judged, for messages: verb
// and noun default to "approved" and "approval" (imageguard_pin).
type keptApproval struct{ at, db, verb, noun string }

// judge runs the gates (gate.Judge) on a resolved target and reports the
// judgement at site. ref is the reference as the user wrote it, for
// messages. A nil judgement means an error was reported; otherwise the
// caller decides on j.Blocking and the diagnostics.
func judge(ctx context.Context, data *providerData, diags *diag.Diagnostics, site judgeSite, ref string, resolved *gate.Resolved, in gateInputs, now time.Time) *gate.Judgement {
	g := gate.Gates{Now: now}
	if in.Scan != nil {
		s := in.Scan
		g.Scan = &gate.ScanGate{Scanner: data.Scanner, Enforcement: s.Enforcement,
			Settings: s.gateSettings(data)}
	}
	if in.Rules != nil {
		g.Rules = &gate.RulesGate{Scanner: data.Scanner, Platforms: in.Platforms, Rules: *in.Rules, Enforcement: in.RulesEnforcement}
	}
	if in.Verify != nil {
		s := in.Verify
		v, err := data.verifier(s.Options)
		if err != nil {
			diags.AddAttributeError(blockPath(site.blocks[gate.KindVerify], "trusted_root_json"), "Invalid trust material", err.Error())
			return nil
		}
		g.Verify = &gate.VerifyGate{Verifier: v, Enforcement: s.Enforcement, TLog: s.Options.TLog,
			Settings: gate.VerifySettings{Platforms: s.Platforms, Authorities: s.Authorities, Attestations: s.Attestation, Rules: s.Rules}}
		data.verifications.Add(1)
	}
	j, err := gate.Judge(ctx, gate.Target{Registry: data.Registry, Resolved: resolved}, g)
	if err != nil {
		addJudgeError(diags, err, site.at, site.blocks)
		return nil
	}
	reportJudgement(diags, site, ref, j, in, now)
	return j
}

// judgeImage resolves the `image` of a data source whose gate settings are
// its own attributes, and judges it.
func judgeImage(ctx context.Context, data *providerData, diags *diag.Diagnostics, image string, in gateInputs, now time.Time) *gate.Judgement {
	at := path.Root("image")
	resolved, d := resolveRef(ctx, data, image, at)
	diags.Append(d...)
	if d.HasError() {
		return nil
	}
	return judge(ctx, data, diags, judgeSite{at: at, blocks: rootBlocks}, image, resolved, in, now)
}

// reportJudgement turns a judgement into diagnostics: each gate's warnings
// and, for each gate that found violations, one message that is an error or
// under its `enforcement = "warn"` a warning (report.Violations).
func reportJudgement(diags *diag.Diagnostics, site judgeSite, ref string, j *gate.Judgement, in gateInputs, now time.Time) {
	resolved := j.Target.Resolved
	image, digest := resolved.Ref.Input, resolved.Digest.String()
	if sc := j.Scan; sc != nil {
		for _, w := range sc.Warnings {
			switch {
			case w.Summary == "Vulnerability database":
				diags.AddWarning(w.Summary, w.Detail)
			case w.Attr != "":
				diags.AddAttributeWarning(blockPath(site.blocks[gate.KindScan], string(w.Attr)), w.Summary, w.Detail)
			default:
				diags.AddAttributeWarning(site.at, w.Summary, w.Detail)
			}
		}
		if !sc.Passed() {
			summary, detail := report.ScanFailure(image, digest, sc.DB.DB, in.Scan.Rules.Threshold, sc.Decision.Violations, now)
			if k := site.kept; k != nil {
				summary, detail = report.Rejudged(summary, detail, ref, firstNonEmpty(k.verb, "approved"), firstNonEmpty(k.noun, "approval"), k.at, k.db, sc.Decision.Violations)
			}
			addMessage(diags, site.at, report.Violations(sc.Enforcement, summary, detail))
		}
	}
	if v := j.Verify; v != nil && !v.Passed() {
		summary, detail := report.VerifyFailure(image, digest, in.Verify.Rules.RequireAll, v.Violations, v.Searched)
		addMessage(diags, site.at, report.Violations(v.Enforcement, summary, detail))
	}
	if r := j.Rules; r != nil {
		warnAt := site.at
		if b := site.blocks[gate.KindRules]; len(b) > 0 {
			warnAt = blockPath(b[:len(b)-1], b[len(b)-1])
		}
		for _, w := range r.Warnings {
			diags.AddAttributeWarning(warnAt, "Policy warning", w)
		}
		if len(r.Violations) > 0 {
			summary, detail := report.RulesFailure(site.who, ref, digest, site.context, r.Violations)
			addMessage(diags, site.at, report.Violations(r.Enforcement, summary, detail))
		}
	}
}

// judgeTarget runs a resource's scan, verify and policy gates on a
// resolved target, each under its own enforcement, and reports whether the
// plan may go on: the judgement is nil after an error, and ok is false when
// a gate blocks.
func judgeTarget(ctx context.Context, data *providerData, diags *diag.Diagnostics, at path.Path, who, ref string, target *gate.Resolved, s pinSettings, now time.Time, context string, kept *keptApproval) (*gate.Judgement, bool) {
	sc := s.Scan
	if kept != nil {
		sinceApproval(&sc.Rules.Exploited, kept.at, kept.noun)
	}
	in := gateInputs{Scan: &sc, Verify: s.Verify, Rules: s.Rules, RulesEnforcement: s.RulesEnforcement, Platforms: s.Platforms}
	j := judge(ctx, data, diags, judgeSite{at: at, blocks: nestedBlocks, who: who, context: context, kept: kept}, ref, target, in, now)
	if j == nil {
		return nil, false
	}
	return j, !j.Blocking && !diags.HasError()
}

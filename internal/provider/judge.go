package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

// judgement is what the gates of imageguard_pin and imageguard_attestation
// found on one digest-pinned target.
type judgement struct {
	Scan *scanOutcome
	// Verify is nil without a verify block.
	Verify *verifyOutcome
	// Rules is nil without a policy block.
	Rules *rulesOutcome
	// Pinned names exactly the manifest(s) judged (gate.PinnedFor).
	Pinned string
}

// rulesOutcome is the hardening rules' result: violations (only when they
// passed under enforcement = "warn") and warnings about exceptions.
type rulesOutcome struct {
	Violations []policy.Violation
	Warnings   []string
}

// keptApproval describes a verdict being re-judged, for messages: verb
// and noun default to "approved" and "approval" (imageguard_pin).
type keptApproval struct{ at, db, verb, noun string }

// judgeTarget runs a resource's scan, verify and policy gates on a
// digest-pinned target, each under its own enforcement, and reports whether
// the plan may go on. at is the attribute naming the image; who names the
// resource in messages ("pin's"); context says what a failure means ("cannot
// be approved"); kept is the verdict being re-judged, nil for a new one.
func judgeTarget(ctx context.Context, data *providerData, diags *diag.Diagnostics, at path.Path, who, ref, target string, s pinSettings, now time.Time, context string, kept *keptApproval) (*judgement, bool) {
	scanSettings := s.Scan
	if kept != nil {
		verb, noun := firstNonEmpty(kept.verb, "approved"), firstNonEmpty(kept.noun, "approval")
		scanSettings.Subject = strings.ToUpper(verb[:1]) + verb[1:] + " image: "
		scanSettings.Preamble = fmt.Sprintf("The %s digest of %s (%s %s against database %s) now fails: findings published since %s.", verb, ref, verb, kept.at, kept.db, noun)
		sinceApproval(&scanSettings.Rules.Exploited, kept.at, noun)
	}
	out, d := runScanGate(ctx, data, target, scanSettings, at, now, "scan")
	diags.Append(d...)
	if out == nil || d.HasError() {
		return nil, false
	}
	j := &judgement{Scan: out}
	pinned, err := gate.PinnedFor(out.Resolved, out.judgedDigests())
	if err != nil {
		addGateError(diags, err, at, nil)
		return j, false
	}
	j.Pinned = pinned
	if s.Verify != nil {
		v, d := runVerifyGate(ctx, data, target, *s.Verify, at, "verify")
		diags.Append(d...)
		if d.HasError() {
			return j, false
		}
		j.Verify = v
	}
	if s.Rules != nil {
		resolved, d := resolveRef(ctx, data.Registry, target, at)
		diags.Append(d...)
		if d.HasError() {
			return j, false
		}
		viols, warnings, err := evaluateRulesOn(ctx, data, ref, resolved, s.Platforms, *s.Rules, now)
		for _, w := range warnings {
			diags.AddAttributeWarning(path.Root("policy"), "Policy warning", w)
		}
		if err != nil {
			addGateError(diags, err, at, []string{"policy"})
			return j, false
		}
		j.Rules = &rulesOutcome{Violations: viols, Warnings: warnings}
		reportGates(diags, at, who, ref, resolved.Digest.String(), viols, s.RulesEnforcement, context)
	}
	return j, !diags.HasError()
}

// reportGates turns the rule violations into one diagnostic.
func reportGates(diags *diag.Diagnostics, at path.Path, who, ref, digest string, viols []policy.Violation, enforcement, context string) {
	if len(viols) == 0 {
		return
	}
	var lines []string
	for _, v := range viols {
		lines = append(lines, violationLine(v))
	}
	sort.Strings(lines)
	summary := fmt.Sprintf("Image fails the %s policy (%d violation(s))", who, len(lines))
	detail := fmt.Sprintf("%s (%s) %s:\n  - %s\n\nFix the image, correct the `policy` settings, or add an `exception` with a reason and an expiry.", ref, digest, context, strings.Join(lines, "\n  - "))
	addMessage(diags, at, report.Violations(enforcement, summary, detail))
}

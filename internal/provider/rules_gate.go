package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
)

// evaluateRulesOn judges the hardening rules on every selected platform of
// a resolved image (all runnable platforms when none are named): a runtime
// may pull any of them. Errors are *gate.Error: nothing judged is a pass.
func evaluateRulesOn(ctx context.Context, data *providerData, name string, resolved *registry.Resolved, platforms []string, rules policy.Rules, now time.Time) ([]policy.Violation, []string, error) {
	pms, err := data.Registry.Platforms(ctx, resolved, platforms)
	if err != nil {
		attr := ""
		if registry.KindOf(err) == registry.KindPlatform {
			attr = "platforms"
		}
		return nil, nil, &gate.Error{Attr: attr, Summary: registry.KindOf(err).Summary(), Detail: err.Error(), Err: err}
	}
	var viols []policy.Violation
	var warnings []string
	for _, pm := range pms {
		var res *scan.Result
		if rulesNeedScan(rules) {
			rep, _, err := data.Scanner.Scan(ctx, scan.Target{Resolved: resolved, Platform: pm}, scan.Options{})
			if err != nil {
				return nil, nil, &gate.Error{Summary: "Scan failed", Detail: fmt.Sprintf("%s (%s, %s) could not be scanned for the rules, so it cannot pass: %v", resolved.Ref.Input, pm.Digest, firstNonEmpty(pm.Platform, "single platform"), err), Err: err}
			}
			if res, err = scan.Summarize(ctx, rep, pm.Platform, pm.Digest.String(), nil); err != nil {
				return nil, nil, &gate.Error{Summary: "Scan failed", Detail: err.Error(), Err: err}
			}
		}
		facts, err := imageFacts(ctx, data, name, resolved, pm, rules, res)
		if err != nil {
			return nil, nil, &gate.Error{Summary: registry.KindOf(err).Summary(), Detail: fmt.Sprintf("%s (%s, %s) could not be judged, so it cannot pass: %v", resolved.Ref.Input, pm.Digest, firstNonEmpty(pm.Platform, "single platform"), err), Err: err}
		}
		v, _, w := policy.EvaluateRules(facts, rules, now)
		tflog.SubsystemDebug(ctx, gate.PolicyLogSubsystem, "rules evaluated", map[string]any{
			"repository": resolved.Ref.Repository.Name(), "digest": pm.Digest.String(), "platform": pm.Platform, "violations": len(v), "warnings": len(w)})
		viols = append(viols, v...)
		warnings = append(warnings, w...)
	}
	return viols, dedupe(warnings), nil
}

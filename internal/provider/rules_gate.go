package provider

import (
	"context"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

// evaluateRulesOn runs the rules gate (internal/gate) on every selected
// platform of a resolved image. Errors are *gate.Error.
func evaluateRulesOn(ctx context.Context, data *providerData, name string, resolved *registry.Resolved, platforms []string, rules policy.Rules, now time.Time) ([]policy.Violation, []string, error) {
	out, err := gate.Rules(ctx, data.Registry, data.Scanner, name, resolved, platforms, rules, now)
	if err != nil {
		return nil, nil, err
	}
	return out.Violations, out.Warnings, nil
}

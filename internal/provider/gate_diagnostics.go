package provider

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

// blockPath is the path of attribute name inside the block a gate runs in:
// block is empty at the root (imageguard_verify's own attributes), or e.g.
// ["verify"] inside imageguard_policy and imageguard_pin.
func blockPath(block []string, name string) path.Path {
	if len(block) == 0 {
		return path.Root(name)
	}
	p := path.Root(block[0])
	for _, b := range block[1:] {
		p = p.AtName(b)
	}
	return p.AtName(name)
}

// addGateError attaches a gate's error to the attribute it concerns, under
// the block the gate runs in, or to the image attribute at.
func addGateError(diags *diag.Diagnostics, err error, at path.Path, block []string) {
	var ge *gate.Error
	if !errors.As(err, &ge) {
		diags.AddAttributeError(at, "Gate failed", err.Error())
		return
	}
	p := at
	if ge.Attr != "" {
		p = blockPath(block, string(ge.Attr))
	}
	diags.AddAttributeError(p, ge.Summary, ge.Detail)
}

// gateBlocks names, per gate, the block its settings live in: an error of
// the scan gate about `vex` belongs under `scan.vex` in imageguard_pin and
// at the root in imageguard_scan.
type gateBlocks map[gate.Kind][]string

var (
	// rootBlocks: the data sources of one gate, whose settings are their
	// own attributes.
	rootBlocks = gateBlocks{}
	// nestedBlocks: the `scan`, `verify` and `policy` blocks of
	// imageguard_pin, imageguard_attestation and imageguard_check.
	nestedBlocks = gateBlocks{gate.KindScan: {"scan"}, gate.KindVerify: {"verify"}, gate.KindRules: {"policy"}}
	// policyBlocks: imageguard_policy's rules are its own attributes.
	policyBlocks = gateBlocks{gate.KindScan: {"scan"}, gate.KindVerify: {"verify"}}
)

// addJudgeError attaches an error of gate.Judge to the attribute it
// concerns, in the block of the gate that failed; `platforms` is a
// top-level attribute wherever a gate runs.
func addJudgeError(diags *diag.Diagnostics, err error, at path.Path, blocks gateBlocks) {
	var block []string
	if ge := (*gate.Error)(nil); errors.As(err, &ge) && ge.Attr != gate.FieldPlatforms {
		block = blocks[ge.Gate]
	}
	addGateError(diags, err, at, block)
}

// addMessage attaches a gate's verdict message, as internal/report decided
// it (error, or warning under enforcement = "warn"), to the attribute at.
func addMessage(diags *diag.Diagnostics, at path.Path, m report.Message) {
	if m.Level == report.LevelWarning {
		diags.AddAttributeWarning(at, m.Summary, m.Detail)
		return
	}
	diags.AddAttributeError(at, m.Summary, m.Detail)
}

// countsValue is a severity → count map for the Terraform model.
func countsValue(counts map[string]int64) types.Map {
	values := make(map[string]attr.Value, len(counts))
	for k, v := range counts {
		values[k] = types.Int64Value(v)
	}
	m, _ := types.MapValue(types.Int64Type, values)
	return m
}

// plannedChange reads a ModifyPlan request's plan and, unless the resource
// is being created, its prior state. ok is false on destroy, before the
// provider is configured, or when either does not read.
func plannedChange[M any](ctx context.Context, req resource.ModifyPlanRequest, configured bool, diags *diag.Diagnostics) (plan, state *M, ok bool) {
	if req.Plan.Raw.IsNull() || !configured {
		return nil, nil, false // destroy, or provider not configured yet
	}
	plan = new(M)
	diags.Append(req.Plan.Get(ctx, plan)...)
	if diags.HasError() {
		return nil, nil, false
	}
	if !req.State.Raw.IsNull() {
		state = new(M)
		diags.Append(req.State.Get(ctx, state)...)
		if diags.HasError() {
			return nil, nil, false
		}
	}
	return plan, state, true
}

// validateSettings is every ValidateConfig: the configuration decoded into
// the model M and converted by read, the conversion Read and ModifyPlan use,
// so that validation and evaluation cannot disagree. A configuration that
// does not decode yet (dynamic blocks not expanded) is checked again when
// it is read or planned.
func validateSettings[M, S any](ctx context.Context, config tfsdk.Config, diags *diag.Diagnostics, read func(context.Context, *M) (S, diag.Diagnostics)) {
	var m M
	if d := config.Get(ctx, &m); d.HasError() {
		if !config.Raw.IsFullyKnown() {
			return
		}
		diags.Append(d...)
		return
	}
	_, d := read(ctx, &m)
	diags.Append(d...)
}

// platformsValidators check each entry of a data source's `platforms` as
// `os/arch[/variant]`.
func platformsValidators() []validator.List {
	return []validator.List{listvalidator.ValueStringsAre(validate.Platform())}
}

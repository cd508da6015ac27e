package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/action"
	actionschema "github.com/hashicorp/terraform-plugin-framework/action/schema"
	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
)

// action "imageguard_check" re-judges a digest-pinned reference when the
// apply runs (Terraform 1.14+), with the pin's own settings and judge:
// a saved plan applied later, on another worker, cannot deploy an image
// that stopped passing in between.

var _ provider.ProviderWithActions = (*imageguardProvider)(nil)

// Actions registers the provider's actions (Terraform 1.14+; OpenTofu has
// none yet and never asks for them).
func (p *imageguardProvider) Actions(context.Context) []func() action.Action {
	return []func() action.Action{newCheckAction}
}

type checkAction struct {
	data *providerData
	now  func() time.Time
	// progressEvery is how often a running check says it is still running.
	progressEvery time.Duration
}

func newCheckAction() action.Action {
	return &checkAction{now: time.Now, progressEvery: 15 * time.Second}
}

var (
	_ action.ActionWithConfigure      = (*checkAction)(nil)
	_ action.ActionWithValidateConfig = (*checkAction)(nil)
)

// checkModel is the action's configuration: the pin's, without what a pin
// keeps in state.
type checkModel struct {
	Ref       types.String       `tfsdk:"ref"`
	Platforms types.List         `tfsdk:"platforms"`
	Scan      *scanRulesModel    `tfsdk:"scan"`
	Verify    *policyVerifyModel `tfsdk:"verify"`
	Policy    *imageRulesModel   `tfsdk:"policy"`
}

// pin is the configuration as imageguard_pin's model, for readPinSettings.
func (m *checkModel) pin() *pinModel {
	return &pinModel{Ref: m.Ref, Platforms: m.Platforms, OnTagMove: types.StringNull(), Scan: m.Scan, Verify: m.Verify, Policy: m.Policy}
}

func (a *checkAction) Metadata(_ context.Context, req action.MetadataRequest, resp *action.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_check"
}

func (a *checkAction) Schema(ctx context.Context, _ action.SchemaRequest, resp *action.SchemaResponse) {
	var pin resource.SchemaResponse
	(&pinResource{}).Schema(ctx, resource.SchemaRequest{}, &pin)
	attrs := map[string]actionschema.Attribute{
		"ref": actionschema.StringAttribute{Required: true, Validators: []validator.String{validate.DigestReference()},
			MarkdownDescription: "The digest-pinned reference to judge again, `registry/repository@sha256:…` (a tag before the digest is allowed and only warned about when it moved), " +
				"typically what the resource deploys: `imageguard_pin.api.pinned` or `data.imageguard_scan.api.pinned`. A tag alone is refused: it could name another image by the time it runs."},
	}
	blocks := map[string]actionschema.Block{}
	var unsupported []string
	for _, name := range []string{"platforms"} {
		a, ok := actionAttribute(pin.Schema.Attributes[name])
		if !ok {
			unsupported = append(unsupported, name)
		}
		attrs[name] = a
	}
	for _, name := range []string{"scan", "verify", "policy"} {
		b, bad := actionBlock(name, pin.Schema.Blocks[name])
		unsupported = append(unsupported, bad...)
		blocks[name] = b
	}
	if len(unsupported) > 0 {
		sort.Strings(unsupported)
		resp.Diagnostics.AddError("imageguard_check schema", "imageguard_pin attributes without an action form: "+strings.Join(unsupported, ", ")+". This is a bug in imageguard.")
		return
	}
	resp.Schema = actionschema.Schema{
		MarkdownDescription: "Judges a digest-pinned image again when the apply runs, with the same `scan`, `verify` and `policy` blocks as `imageguard_pin` " +
			"(and the same judge): attached to a resource with `lifecycle { action_trigger { events = [before_create, before_update], actions = [action.imageguard_check.api] } }`, " +
			"it halts the apply when the image stopped passing between plan and apply, which a saved plan (HCP Terraform plans and applies on different workers) leaves open. " +
			"`terraform apply -invoke=action.imageguard_check.api` runs it alone, for day-2 rescans. It reports progress while it judges. " +
			"Terraform 1.14 or later; OpenTofu has no actions yet (the rest of the provider works there). Never writes state.",
		Attributes: attrs,
		Blocks:     blocks,
	}
}

// actionAttribute is a pin attribute (some are shared with data sources)
// in the action schema: the same type, description and validators (an
// action has no computed attributes).
func actionAttribute(a any) (actionschema.Attribute, bool) {
	switch a := a.(type) {
	case dsschema.StringAttribute:
		return actionschema.StringAttribute{Required: a.Required, Optional: a.Optional, MarkdownDescription: a.MarkdownDescription, Validators: a.Validators}, !a.Computed && !a.Sensitive
	case dsschema.BoolAttribute:
		return actionschema.BoolAttribute{Required: a.Required, Optional: a.Optional, MarkdownDescription: a.MarkdownDescription, Validators: a.Validators}, !a.Computed && !a.Sensitive
	case dsschema.ListAttribute:
		return actionschema.ListAttribute{ElementType: a.ElementType, Required: a.Required, Optional: a.Optional, MarkdownDescription: a.MarkdownDescription, Validators: a.Validators}, !a.Computed && !a.Sensitive
	case schema.StringAttribute:
		return actionschema.StringAttribute{Required: a.Required, Optional: a.Optional, MarkdownDescription: a.MarkdownDescription, Validators: a.Validators}, !a.Computed && !a.Sensitive
	case schema.BoolAttribute:
		return actionschema.BoolAttribute{Required: a.Required, Optional: a.Optional, MarkdownDescription: a.MarkdownDescription, Validators: a.Validators}, !a.Computed && !a.Sensitive
	case schema.Float64Attribute:
		return actionschema.Float64Attribute{Required: a.Required, Optional: a.Optional, MarkdownDescription: a.MarkdownDescription, Validators: a.Validators}, !a.Computed && !a.Sensitive
	case schema.Int64Attribute:
		return actionschema.Int64Attribute{Required: a.Required, Optional: a.Optional, MarkdownDescription: a.MarkdownDescription, Validators: a.Validators}, !a.Computed && !a.Sensitive
	case schema.ListAttribute:
		return actionschema.ListAttribute{ElementType: a.ElementType, Required: a.Required, Optional: a.Optional, MarkdownDescription: a.MarkdownDescription, Validators: a.Validators}, !a.Computed && !a.Sensitive
	case schema.MapAttribute:
		return actionschema.MapAttribute{ElementType: a.ElementType, Required: a.Required, Optional: a.Optional, MarkdownDescription: a.MarkdownDescription, Validators: a.Validators}, !a.Computed && !a.Sensitive
	}
	return nil, false
}

// actionBlock is a pin block in the action schema; it names what it could
// not carry over.
func actionBlock(at string, b schema.Block) (actionschema.Block, []string) {
	var bad []string
	convert := func(attrs map[string]schema.Attribute, blocks map[string]schema.Block) (map[string]actionschema.Attribute, map[string]actionschema.Block) {
		outA := map[string]actionschema.Attribute{}
		for name, a := range attrs {
			c, ok := actionAttribute(a)
			if !ok {
				bad = append(bad, at+"."+name)
				continue
			}
			outA[name] = c
		}
		outB := map[string]actionschema.Block{}
		for name, nb := range blocks {
			c, nested := actionBlock(at+"."+name, nb)
			bad = append(bad, nested...)
			outB[name] = c
		}
		return outA, outB
	}
	switch b := b.(type) {
	case schema.SingleNestedBlock:
		attrs, blocks := convert(b.Attributes, b.Blocks)
		return actionschema.SingleNestedBlock{Attributes: attrs, Blocks: blocks, MarkdownDescription: b.MarkdownDescription, Validators: b.Validators}, bad
	case schema.ListNestedBlock:
		attrs, blocks := convert(b.NestedObject.Attributes, b.NestedObject.Blocks)
		return actionschema.ListNestedBlock{NestedObject: actionschema.NestedBlockObject{Attributes: attrs, Blocks: blocks, Validators: b.NestedObject.Validators},
			MarkdownDescription: b.MarkdownDescription, Validators: b.Validators}, bad
	}
	return nil, append(bad, at)
}

func (a *checkAction) Configure(_ context.Context, req action.ConfigureRequest, resp *action.ConfigureResponse) {
	a.data = keepProviderData(req.ProviderData, &resp.Diagnostics)
}

func (a *checkAction) ValidateConfig(ctx context.Context, req action.ValidateConfigRequest, resp *action.ValidateConfigResponse) {
	validateSettings(ctx, req.Config, &resp.Diagnostics, func(ctx context.Context, m *checkModel) (pinSettings, diag.Diagnostics) {
		return readPinSettings(ctx, m.pin())
	})
}

// Invoke judges the image with the pin's gates. Any error, a violation
// under enforcement "error" or a gate that cannot be evaluated, halts the
// apply (or the -invoke run) with the gate's own message.
func (a *checkAction) Invoke(ctx context.Context, req action.InvokeRequest, resp *action.InvokeResponse) {
	ctx = withLogging(ctx)
	var m checkModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if a.data == nil {
		resp.Diagnostics.AddError("Provider not configured", "imageguard_check ran before the imageguard provider was configured. This is a bug in imageguard or Terraform.")
		return
	}
	settings, diags := readPinSettings(ctx, m.pin())
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ref := m.Ref.ValueString()
	ctx, cancel := context.WithTimeout(ctx, a.data.Timeout)
	defer cancel()

	gates := []string{"scan"}
	if settings.Verify != nil {
		gates = append(gates, "verify")
	}
	if settings.Rules != nil {
		gates = append(gates, "policy")
	}
	send := func(msg string) {
		if resp.SendProgress != nil {
			resp.SendProgress(action.InvokeProgressEvent{Message: msg})
		}
	}
	start := a.now()
	send(fmt.Sprintf("imageguard: checking %s (%s)", ref, strings.Join(gates, ", ")))
	stop := a.keepReporting(ctx, send, ref, start)
	var j *gate.Judgement
	resolved, diags := resolveRef(ctx, a.data, ref, path.Root("ref"))
	resp.Diagnostics.Append(diags...)
	ok := !diags.HasError()
	if ok {
		j, ok = judgeTarget(ctx, a.data, &resp.Diagnostics, path.Root("ref"), "check's", ref, resolved, settings, start.UTC(), "fails the apply-time check", nil)
	}
	stop()
	tflog.Info(ctx, "imageguard_check judged", map[string]any{"ref": ref, "passed": ok, "duration_ms": a.now().Sub(start).Milliseconds()})
	if !ok || j == nil {
		send(fmt.Sprintf("imageguard: %s fails the check", ref))
		return
	}
	send(fmt.Sprintf("imageguard: %s passes (%s; database %s)", ref, strings.Join(gates, ", "), j.Scan.DB.Version()))
}

// keepReporting says the check is still running every progressEvery until
// stop is called; stop returns once nothing more will be sent (a progress
// event sent after Invoke returns would never be read).
func (a *checkAction) keepReporting(ctx context.Context, send func(string), ref string, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(a.progressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				send(fmt.Sprintf("imageguard: still checking %s (%s)", ref, a.now().Sub(start).Round(time.Second)))
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

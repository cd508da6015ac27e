package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

type pinResource struct {
	resourceConfig
	now func() time.Time
}

func newPinResource() resource.Resource { return &pinResource{now: time.Now} }

var (
	_ resource.ResourceWithModifyPlan     = (*pinResource)(nil)
	_ resource.ResourceWithImportState    = (*pinResource)(nil)
	_ resource.ResourceWithValidateConfig = (*pinResource)(nil)
	_ resource.ResourceWithUpgradeState   = (*pinResource)(nil)
)

type pinModel struct {
	ID                 types.String       `tfsdk:"id"`
	Ref                types.String       `tfsdk:"ref"`
	Platforms          types.List         `tfsdk:"platforms"`
	OnTagMove          types.String       `tfsdk:"on_tag_move"`
	Scan               *scanRulesModel    `tfsdk:"scan"`
	Verify             *policyVerifyModel `tfsdk:"verify"`
	Policy             *imageRulesModel   `tfsdk:"policy"`
	Digest             types.String       `tfsdk:"digest"`
	Pinned             types.String       `tfsdk:"pinned"`
	TagDigest          types.String       `tfsdk:"tag_digest"`
	ApprovedAt         types.String       `tfsdk:"approved_at"`
	ApprovedDBVersion  types.String       `tfsdk:"approved_db_version"`
	FindingsAtApproval types.Map          `tfsdk:"findings_at_approval"`
}

func (r *pinResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_pin"
}

func (m *pinModel) rules() *scanRulesModel {
	if m.Scan == nil {
		return &scanRulesModel{SeverityThreshold: types.StringNull(), IgnoreUnfixed: types.BoolNull(), UnknownSeverity: types.StringNull(), Scanners: types.ListNull(types.StringType),
			PkgTypes: types.ListNull(types.StringType), VEX: types.ListNull(types.StringType), Enforcement: types.StringNull()}
	}
	return m.Scan
}

// pinSettings are the pin's three gates as plain values, each with its own
// enforcement: one block's `warn` never relaxes another gate.
type pinSettings struct {
	Scan              scanSettings
	Verify            *verifySettings
	Rules             *policy.Rules
	RulesEnforcement  report.Enforcement
	Platforms         []string
	OnTagMove         string
	ScanBlockSettings *scanRulesModel
}

func readPinSettings(ctx context.Context, m *pinModel) (pinSettings, diag.Diagnostics) {
	var s pinSettings
	var diags diag.Diagnostics
	at := func(block string) func(string) path.Path {
		return func(n string) path.Path { return path.Root(block).AtName(n) }
	}
	s.Scan, diags = readScanSettings(ctx, m.Platforms, m.rules(), at("scan"))
	s.Platforms = s.Scan.Platforms
	if m.Verify != nil {
		vm := verifyModel{Require: m.Verify.Require, TrustedRootJSON: m.Verify.TrustedRootJSON, TLog: m.Verify.TLog, Enforcement: m.Verify.Enforcement,
			Authorities: m.Verify.Authorities, AttestationReqs: m.Verify.AttestationReqs, Platforms: m.Platforms,
			RequireSignature: m.Verify.RequireSignature, Provenance: m.Verify.Provenance}
		vs, d := readVerifySettings(ctx, &vm, at("verify"))
		diags.Append(d...)
		s.Verify = &vs
	}
	if m.Policy != nil {
		rules, d := readRules(ctx, &m.Policy.rulesModel, at("policy"))
		diags.Append(d...)
		s.Rules = &rules
		s.RulesEnforcement = readEnforcement(ctx, m.Policy.Enforcement, at("policy")("enforcement"), &diags)
	}
	s.OnTagMove = firstNonEmpty(m.OnTagMove.ValueString(), gate.OnTagMoveUpdate) // validate.OneOf owns the values
	return s, diags
}

func (r *pinResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	validateSettings(ctx, req.Config, &resp.Diagnostics, readPinSettings)
}

// approvalFacts are what an approval records besides the digest. They are
// known after apply: the apply-time plan computes them again against the
// database of that moment, and Create/Update take them from there.
type approvalFacts struct {
	Pinned    string
	DBVersion string
	Counts    map[string]int64
}

// ModifyPlan does the work at plan time: resolve the tag, decide (a pure
// function of state, configuration and the registry's answer), judge what
// is to be approved or re-judge what was approved, and plan the outcome.
func (r *pinResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	ctx = withLogging(ctx)
	planned, state, ok := plannedChange[pinModel](ctx, req, r.data != nil, &resp.Diagnostics)
	if !ok || planned.Ref.IsUnknown() {
		return
	}
	plan := *planned
	settings, diags := readPinSettings(ctx, &plan)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.data.Timeout)
	defer cancel()
	now := r.now().UTC()
	ref := plan.Ref.ValueString()

	tagged, diags := resolveRef(ctx, r.data, ref, path.Root("ref"))
	resp.Diagnostics.Append(diags...)
	if diags.HasError() {
		return
	}
	in := gate.PinInput{Ref: ref, OnTagMove: settings.OnTagMove, TagNow: tagged.Digest.String(), Prior: priorOf(state)}
	records := gate.PlanRecords{Dir: r.data.CacheDir}
	recordKey := planRecordKey(ref, state)
	if in.Prior == nil || in.Prior.Ref != ref || in.Prior.ObservedTagDigest == "" {
		if rec := records.Load(recordKey); gate.UsablePlannedRecord(rec, now) {
			in.Planned = rec
		}
	}
	decision := gate.DecidePin(in)
	for _, w := range decision.Warnings {
		resp.Diagnostics.AddAttributeWarning(path.Root("ref"), "Tag moved since it was read", w)
	}
	plan.ID = types.StringValue(ref)
	plan.TagDigest = types.StringValue(decision.TagDigest)
	target := pinnedOf(tagged, decision.Digest)

	switch decision.Action {
	case gate.PinRefuse:
		resp.Diagnostics.AddAttributeError(path.Root("ref"), "Tag has moved", decision.Refusal)
		return
	case gate.PinApprove:
		facts, ok := r.judge(ctx, &resp.Diagnostics, ref, target, settings, now, "cannot be approved", nil)
		if !ok {
			return
		}
		plan.Digest = types.StringValue(decision.Digest)
		plan.Pinned = types.StringValue(facts.Pinned)
		// Known after apply: the apply-time plan judges again, and a clock,
		// or a database updated in between, must not make it disagree.
		plan.ApprovedAt = types.StringUnknown()
		plan.ApprovedDBVersion = types.StringUnknown()
		plan.FindingsAtApproval = types.MapUnknown(types.Int64Type)
		r.data.approvals.put(facts.Pinned, facts)
		if in.Prior == nil || in.Prior.Ref != ref || in.Prior.ObservedTagDigest == "" {
			if err := records.Save(recordKey, gate.PlannedRecord{Digest: decision.Digest, PlannedAt: now}); err != nil {
				tflog.Warn(ctx, "could not record the plan's digest", map[string]any{"ref": ref, "error": err.Error()})
			}
		}
	case gate.PinKeep:
		plan.Digest, plan.ApprovedAt = state.Digest, state.ApprovedAt
		plan.ApprovedDBVersion, plan.FindingsAtApproval = state.ApprovedDBVersion, state.FindingsAtApproval
		approval := &keptApproval{at: state.ApprovedAt.ValueString(), db: state.ApprovedDBVersion.ValueString()}
		facts, ok := r.judge(ctx, &resp.Diagnostics, ref, target, settings, now, fmt.Sprintf("was approved %s but now fails", approval.at), approval)
		if !ok {
			return
		}
		// What is handed out is what this plan judged: `platforms` narrowed
		// on a kept approval narrows `pinned` too (an index stays handed out
		// only while every runnable platform is judged).
		plan.Pinned = types.StringValue(facts.Pinned)
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// judge runs the pin's gates on a digest-pinned target, each under its own
// enforcement, and reports whether the plan may go on.
func (r *pinResource) judge(ctx context.Context, diags *diag.Diagnostics, ref string, target name.Digest, s pinSettings, now time.Time, context string, kept *keptApproval) (approvalFacts, bool) {
	resolved, d := resolveRef(ctx, r.data, target.String(), path.Root("ref"))
	diags.Append(d...)
	if d.HasError() {
		return approvalFacts{}, false
	}
	j, ok := judgeTarget(ctx, r.data, diags, path.Root("ref"), "pin's", ref, resolved, s, now, context, kept)
	if j == nil {
		return approvalFacts{}, false
	}
	return approvalFacts{Pinned: j.Pinned.String(), DBVersion: j.Scan.DB.Version(), Counts: report.SeverityCounts(j.Scan.Findings())}, ok
}

// priorOf is the decision's view of the state.
func priorOf(state *pinModel) *gate.PinPrior {
	if state == nil {
		return nil
	}
	return &gate.PinPrior{Ref: state.Ref.ValueString(), Digest: state.Digest.ValueString(),
		ApprovedAt: state.ApprovedAt.ValueString(), ObservedTagDigest: state.TagDigest.ValueString()}
}

func planRecordKey(ref string, state *pinModel) string {
	if state == nil {
		return gate.PlanRecordKey(ref, "", "")
	}
	return gate.PlanRecordKey(ref, state.Ref.ValueString(), state.Digest.ValueString())
}

// pinnedOf is repository@digest in the repository of a resolved tag.
func pinnedOf(r *gate.Resolved, digest string) name.Digest {
	return r.Ref.Repository.Digest(digest)
}

// Create records what the plan approved.
func (r *pinResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx = withLogging(ctx)
	var plan pinModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.record(ctx, &plan, nil, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *pinResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx = withLogging(ctx)
	var plan, state pinModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.record(ctx, &plan, &state, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// record fills in what an approval records at apply: its time, and the
// database and findings the apply-time plan judged it against.
func (r *pinResource) record(ctx context.Context, m, prior *pinModel, diags *diag.Diagnostics) {
	if m.Digest.IsUnknown() || m.Digest.IsNull() {
		diags.AddAttributeError(path.Root("ref"), "Nothing was approved at plan",
			"The plan did not approve a digest for "+m.Ref.ValueString()+"; apply records only what the plan judged. Run plan again.")
		return
	}
	if m.ApprovedAt.IsUnknown() {
		m.ApprovedAt = types.StringValue(r.now().UTC().Format(time.RFC3339))
	}
	f, _ := r.data.approvals.get(m.Pinned.ValueString())
	if m.ApprovedDBVersion.IsUnknown() {
		m.ApprovedDBVersion = types.StringNull()
		if f.DBVersion != "" {
			m.ApprovedDBVersion = types.StringValue(f.DBVersion)
		}
	}
	if m.FindingsAtApproval.IsUnknown() {
		m.FindingsAtApproval = types.MapNull(types.Int64Type)
		if f.Counts != nil {
			m.FindingsAtApproval = countsValue(f.Counts)
		}
	}
	if r.data != nil {
		gate.PlanRecords{Dir: r.data.CacheDir}.Delete(planRecordKey(m.Ref.ValueString(), prior))
	}
	tflog.Debug(ctx, "approval recorded", map[string]any{"ref": m.Ref.ValueString(), "digest": m.Digest.ValueString()})
}

// Read refreshes what the tag names (tag_digest) and keeps the approval as
// it is: judging happens in ModifyPlan. A saved plan carries this refreshed
// observation to apply, so the apply-time plan follows the same digest. A
// registry that cannot be reached leaves the observation as it was; the
// plan then fails closed when it resolves the tag itself.
func (r *pinResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	ctx = withLogging(ctx)
	var state pinModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if state.FindingsAtApproval.IsNull() {
		state.FindingsAtApproval = types.MapNull(types.Int64Type)
	}
	if r.data != nil && state.Ref.ValueString() != "" {
		ctx, cancel := context.WithTimeout(ctx, r.data.Timeout)
		defer cancel()
		ref, err := r.data.Registry.ParseReference(state.Ref.ValueString())
		if err == nil && !ref.HasDigest() {
			var resolved *gate.Resolved
			if resolved, err = r.data.Registry.Resolve(ctx, ref); err == nil {
				state.TagDigest = types.StringValue(resolved.Digest.String())
			}
		}
		if err != nil {
			tflog.Warn(ctx, "refresh could not read the tag; the observation is kept", map[string]any{"ref": state.Ref.ValueString(), "error": err.Error()})
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Delete only drops the record.
func (r *pinResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

// ImportState takes `ref@digest`: the record is judged on the next plan.
func (r *pinResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id := strings.TrimSpace(req.ID)
	at := strings.LastIndex(id, "@")
	if at <= 0 || !strings.HasPrefix(id[at+1:], "sha256:") {
		resp.Diagnostics.AddError("Invalid import id", fmt.Sprintf("Import an imageguard_pin as `<ref>@sha256:<digest>`, e.g. `registry.example.com/team/api:1.4@sha256:…`; got %q.", id))
		return
	}
	ref := id[:at]
	parsed, err := r.data.Registry.ParseReference(id)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import id", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &pinModel{
		ID: types.StringValue(ref), Ref: types.StringValue(ref), Platforms: types.ListNull(types.StringType), OnTagMove: types.StringValue(gate.OnTagMoveUpdate),
		Digest: types.StringValue(parsed.Digest.String()), Pinned: types.StringValue(parsed.Pinned(parsed.Digest).String()),
		TagDigest: types.StringNull(), ApprovedAt: types.StringNull(), ApprovedDBVersion: types.StringNull(),
		FindingsAtApproval: types.MapNull(types.Int64Type),
	})...)
}

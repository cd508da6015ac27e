package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
)

type pinResource struct {
	data *providerData
	now  func() time.Time
}

func newPinResource() resource.Resource { return &pinResource{now: time.Now} }

var (
	_ resource.ResourceWithModifyPlan  = (*pinResource)(nil)
	_ resource.ResourceWithImportState = (*pinResource)(nil)
)

type pinModel struct {
	ID                 types.String       `tfsdk:"id"`
	Ref                types.String       `tfsdk:"ref"`
	Platforms          types.List         `tfsdk:"platforms"`
	OnTagMove          types.String       `tfsdk:"on_tag_move"`
	Scan               *scanRulesModel    `tfsdk:"scan"`
	Verify             *policyVerifyModel `tfsdk:"verify"`
	Policy             *rulesModel        `tfsdk:"policy"`
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

func (r *pinResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Keeps an approved digest for a tag and re-judges it on every plan. The plan resolves `ref`; when the tag has " +
			"moved it judges the new digest and shows the change (old → new digest, known at plan); it also re-judges the approved digest " +
			"against the current vulnerability database and fails (or warns) when newly published findings now violate the gate, naming them " +
			"and the approval date. Apply only records what the plan judged. Destroy only drops the record.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The `ref` followed.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"ref": schema.StringAttribute{Required: true, MarkdownDescription: "Tag reference to follow, e.g. `registry.example.com/team/api:1.4`."},
			"platforms": schema.ListAttribute{Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Platforms of a multi-platform index to judge. Default: all."},
			"on_tag_move": schema.StringAttribute{Optional: true, MarkdownDescription: "What a moved tag does at plan: `update` (default) judges the new digest " +
				"and proposes it; `error` fails the plan naming both digests; `ignore` keeps the approved digest (still re-judged)."},
			"digest":              str("The approved digest."),
			"pinned":              str("`registry/repository@digest` of the approved digest: what to deploy."),
			"tag_digest":          str("What the tag pointed to at the last plan."),
			"approved_at":         str("When the approval was applied, RFC 3339. Known after apply when the plan approves a new digest."),
			"approved_db_version": str("The vulnerability database it was approved against: `<schema version>@<UpdatedAt>`."),
			"findings_at_approval": schema.MapAttribute{Computed: true, ElementType: types.Int64Type,
				MarkdownDescription: "Findings per severity when it was approved."},
		},
		Blocks: map[string]schema.Block{
			"verify": pinVerifyBlock(),
			"policy": pinPolicyBlock(),
			"scan": schema.SingleNestedBlock{
				MarkdownDescription: "The scan gate's settings, as in `data \"imageguard_scan\"`. Without the block the defaults apply (threshold `HIGH`, both scanners).",
				Attributes: map[string]schema.Attribute{
					"severity_threshold": schema.StringAttribute{Optional: true, MarkdownDescription: "`UNKNOWN`, `LOW`, `MEDIUM`, `HIGH` (default) or `CRITICAL`."},
					"ignore_unfixed":     schema.BoolAttribute{Optional: true, MarkdownDescription: "Do not count findings without a fixed version. Default `false`."},
					"scanners":           schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Subset of `vuln`, `secret`. Default both."},
					"pkg_types":          schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Subset of `os`, `library`. Default both."},
					"vex":                schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "VEX documents, as `trivy --vex` reads them."},
					"enforcement":        schema.StringAttribute{Optional: true, MarkdownDescription: "`error` (default) or `warn`: violations become warnings."},
				},
				Blocks: map[string]schema.Block{
					"ignore": schema.ListNestedBlock{
						MarkdownDescription: "An accepted risk, as in `data \"imageguard_scan\"`.",
						NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
							"id":       schema.StringAttribute{Required: true, MarkdownDescription: "Finding id or secret rule id."},
							"reason":   schema.StringAttribute{Required: true, MarkdownDescription: "Why the risk is accepted."},
							"expires":  schema.StringAttribute{Optional: true, MarkdownDescription: "Last day it applies, `YYYY-MM-DD`."},
							"packages": schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Only in these packages."},
						}},
					},
				},
			},
		},
	}
}

// pinVerifyBlock is imageguard_policy's `verify` block, for a resource.
func pinVerifyBlock() schema.Block {
	var tmp datasource.SchemaResponse
	(&policyDataSource{}).Schema(context.Background(), datasource.SchemaRequest{}, &tmp)
	b := toResourceBlocks(map[string]dschema.Block{"verify": tmp.Schema.Blocks["verify"]})["verify"].(schema.SingleNestedBlock)
	b.MarkdownDescription = "The signature gate (as `imageguard_verify`): a new digest is approved only when verified, and the approved digest is verified again on every plan."
	return b
}

// pinPolicyBlock holds the rules of imageguard_policy, for a resource.
func pinPolicyBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "Hardening rules (as `imageguard_policy`) a digest must meet to be approved, judged again on every plan.",
		Attributes:          toResourceAttributes(ruleAttributes()),
		Blocks:              toResourceBlocks(map[string]dschema.Block{"exception": exceptionBlock()}),
	}
}

func (r *pinResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	data, err := configuredData(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Provider misconfigured", err.Error())
		return
	}
	r.data = data
}

func (m *pinModel) rules() *scanRulesModel {
	if m.Scan == nil {
		return &scanRulesModel{SeverityThreshold: types.StringNull(), IgnoreUnfixed: types.BoolNull(), Scanners: types.ListNull(types.StringType),
			PkgTypes: types.ListNull(types.StringType), VEX: types.ListNull(types.StringType), Enforcement: types.StringNull()}
	}
	return m.Scan
}

func (r *pinResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m pinModel
	if diags := req.Config.Get(ctx, &m); diags.HasError() {
		if !req.Config.Raw.IsFullyKnown() {
			return // e.g. dynamic blocks not expanded yet: checked again at read
		}
		resp.Diagnostics.Append(diags...)
		return
	}
	_, diags := readScanSettings(ctx, m.Platforms, m.rules(), func(n string) path.Path { return path.Root("scan").AtName(n) })
	resp.Diagnostics.Append(diags...)
	if m.Policy != nil {
		_, d := readRules(ctx, m.Policy, func(n string) path.Path { return path.Root("policy").AtName(n) })
		resp.Diagnostics.Append(d...)
	}
	if m.Verify != nil {
		vm := verifyModel{Require: m.Verify.Require, TrustedRootJSON: m.Verify.TrustedRootJSON, TLog: m.Verify.TLog, Enforcement: types.StringNull(),
			Authorities: m.Verify.Authorities, AttestationReqs: m.Verify.AttestationReqs, Platforms: m.Platforms}
		_, d := readVerifySettings(ctx, &vm, func(n string) path.Path { return path.Root("verify").AtName(n) })
		resp.Diagnostics.Append(d...)
	}
	switch m.OnTagMove.ValueString() {
	case "", "update", "error", "ignore":
	default:
		resp.Diagnostics.AddAttributeError(path.Root("on_tag_move"), "Invalid on_tag_move", fmt.Sprintf("`on_tag_move` must be \"update\", \"error\" or \"ignore\", got %q.", m.OnTagMove.ValueString()))
	}
}

// ModifyPlan does the work at plan time: resolve the tag, judge what is to
// be approved, re-judge what was approved, and put the outcome in the plan.
func (r *pinResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return // destroy, or provider not configured yet
	}
	var plan pinModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.Ref.IsUnknown() {
		return
	}
	var state *pinModel
	if !req.State.Raw.IsNull() {
		state = &pinModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		if resp.Diagnostics.HasError() {
			return
		}
	}
	settings, diags := readScanSettings(ctx, plan.Platforms, plan.rules(), func(n string) path.Path { return path.Root("scan").AtName(n) })
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.data.Timeout)
	defer cancel()
	// Whatever path is taken below, the plan carries what was judged.
	defer func() {
		if !resp.Diagnostics.HasError() {
			resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		}
	}()
	now := r.now().UTC()
	ref := plan.Ref.ValueString()

	tagged, diags := resolveRef(ctx, r.data.Registry, ref, path.Root("ref"))
	resp.Diagnostics.Append(diags...)
	if diags.HasError() {
		return
	}
	plan.ID = types.StringValue(ref)
	plan.TagDigest = types.StringValue(tagged.Digest.String())

	approve := func(target string, resolvedDigest string) {
		out, d := runScanGate(ctx, r.data, target, settings, path.Root("ref"), now)
		resp.Diagnostics.Append(d...)
		if out == nil || (!out.Passed && !out.Warn) {
			return
		}
		viols, d := r.extraGates(ctx, &plan, target, now)
		resp.Diagnostics.Append(d...)
		if d.HasError() {
			return
		}
		reportGates(&resp.Diagnostics, ref, resolvedDigest, viols, out.Warn, "cannot be approved")
		if resp.Diagnostics.HasError() {
			return
		}
		plan.Digest = types.StringValue(resolvedDigest)
		plan.Pinned = types.StringValue(out.Resolved.Pinned())
		// The approval time is when apply records it: terraform plans again
		// during apply, and a plan-time clock would differ between the two.
		plan.ApprovedAt = types.StringUnknown()
		plan.ApprovedDBVersion = types.StringValue(dbVersion(out.DB.Version, out.DB.UpdatedAt))
		plan.FindingsAtApproval = countsOf(out)
	}

	refWithTag := tagged.Pinned() // judge exactly the digest the tag names now
	switch {
	case state == nil || state.Digest.IsNull() || state.Digest.ValueString() == "":
		approve(refWithTag, tagged.Digest.String())
		return
	case state.ApprovedAt.IsNull() || state.Ref.ValueString() != ref:
		// Imported (never judged) or following another tag: judge the
		// state's digest when it still is the tag's, else the tag's.
		if state.Ref.ValueString() == ref {
			approve(pinnedOf(tagged, state.Digest.ValueString()), state.Digest.ValueString())
		} else {
			approve(refWithTag, tagged.Digest.String())
		}
		return
	}

	approved := state.Digest.ValueString()
	plan.Digest, plan.Pinned, plan.ApprovedAt = state.Digest, state.Pinned, state.ApprovedAt
	plan.ApprovedDBVersion, plan.FindingsAtApproval = state.ApprovedDBVersion, state.FindingsAtApproval

	if tagged.Digest.String() != approved {
		switch plan.OnTagMove.ValueString() {
		case "error":
			resp.Diagnostics.AddAttributeError(path.Root("ref"), "Tag has moved",
				fmt.Sprintf("%s now points to %s, but the approved digest is %s (approved %s). on_tag_move = \"error\" forbids following it: "+
					"review the new image, then set on_tag_move = \"update\" to approve it through the plan, or pin the tag back.", ref, tagged.Digest, approved, state.ApprovedAt.ValueString()))
			return
		case "ignore":
			// Keep the approved digest; it is re-judged below.
		default:
			approve(refWithTag, tagged.Digest.String())
			return
		}
	}

	// Re-judge the approved digest against today's database.
	out, d := runScanGate(ctx, r.data, pinnedOf(tagged, approved), settings, path.Root("ref"), now)
	if out == nil {
		resp.Diagnostics.Append(d...)
		return
	}
	if !out.Passed {
		summary, detail := report.ScanFailure(ref, approved, report.DB{Version: out.DB.Version, UpdatedAt: out.DB.UpdatedAt, Source: out.DB.Source}, settings.Rules.Threshold, out.Decision.Violations, now)
		detail = fmt.Sprintf("The approved digest %s (approved %s against database %s) now fails: findings published since approval. New violations: %s.\n\n%s",
			approved, state.ApprovedAt.ValueString(), state.ApprovedDBVersion.ValueString(), strings.Join(violationIDs(out.Decision.Violations), ", "), detail)
		if out.Warn {
			resp.Diagnostics.AddAttributeWarning(path.Root("ref"), "Approved image: "+summary+" (enforcement = warn)", detail)
		} else {
			resp.Diagnostics.AddAttributeError(path.Root("ref"), "Approved image: "+summary, detail)
			return
		}
	} else {
		resp.Diagnostics.Append(d...)
	}
	viols, d := r.extraGates(ctx, &plan, pinnedOf(tagged, approved), now)
	resp.Diagnostics.Append(d...)
	if d.HasError() {
		return
	}
	reportGates(&resp.Diagnostics, ref, approved, viols, out.Warn, fmt.Sprintf("was approved %s but now fails", state.ApprovedAt.ValueString()))
}

// extraGates runs the verify and policy blocks on a digest-pinned target
// and reports their violations (errors stay errors).
func (r *pinResource) extraGates(ctx context.Context, plan *pinModel, target string, now time.Time) ([]policy.Violation, diag.Diagnostics) {
	var diags diag.Diagnostics
	var viols []policy.Violation
	if plan.Verify != nil {
		vm := verifyModel{Require: plan.Verify.Require, TrustedRootJSON: plan.Verify.TrustedRootJSON, TLog: plan.Verify.TLog, Enforcement: types.StringNull(),
			Authorities: plan.Verify.Authorities, AttestationReqs: plan.Verify.AttestationReqs, Platforms: plan.Platforms}
		vs, d := readVerifySettings(ctx, &vm, func(n string) path.Path { return path.Root("verify").AtName(n) })
		diags.Append(d...)
		if diags.HasError() {
			return nil, diags
		}
		vs.Enforcement = "warn" // the pin decides below
		out, d := runVerifyGate(ctx, r.data, target, vs, path.Root("ref"))
		if d.HasError() {
			return nil, append(diags, d...)
		}
		viols = append(viols, out.Violations...)
	}
	if plan.Policy != nil {
		rules, d := readRules(ctx, plan.Policy, func(n string) path.Path { return path.Root("policy").AtName(n) })
		diags.Append(d...)
		if diags.HasError() {
			return nil, diags
		}
		resolved, d := resolveRef(ctx, r.data.Registry, target, path.Root("ref"))
		diags.Append(d...)
		if diags.HasError() {
			return nil, diags
		}
		platforms, err := r.data.Registry.Platforms(ctx, resolved, stringsOf(ctx, plan.Platforms, &diags))
		if err != nil {
			diags.AddAttributeError(path.Root("ref"), registry.KindOf(err).Summary(), err.Error())
			return nil, diags
		}
		for _, pm := range platforms {
			var res *scan.Result
			if rulesNeedScan(rules) {
				rep, _, err := r.data.Scanner.Scan(ctx, scan.Target{Resolved: resolved, Platform: pm}, scan.Options{})
				if err != nil {
					diags.AddAttributeError(path.Root("ref"), "Scan failed", fmt.Sprintf("%s could not be scanned for the policy, so it cannot be approved: %v", target, err))
					return nil, diags
				}
				if res, err = scan.Summarize(ctx, rep, pm.Platform, pm.Digest.String(), nil); err != nil {
					diags.AddError("Scan failed", err.Error())
					return nil, diags
				}
			}
			facts, err := imageFacts(ctx, r.data, plan.Ref.ValueString(), resolved, pm, rules, res)
			if err != nil {
				diags.AddAttributeError(path.Root("ref"), registry.KindOf(err).Summary(), fmt.Sprintf("%s could not be judged, so it cannot be approved: %v", target, err))
				return nil, diags
			}
			v, _, warnings := policy.EvaluateRules(facts, rules, now)
			viols = append(viols, v...)
			for _, w := range warnings {
				diags.AddAttributeWarning(path.Root("policy"), "Policy warning", w)
			}
		}
	}
	return viols, diags
}

// reportGates turns the verify/policy violations into one diagnostic.
func reportGates(diags *diag.Diagnostics, ref, digest string, viols []policy.Violation, warn bool, context string) {
	if len(viols) == 0 {
		return
	}
	var lines []string
	for _, v := range viols {
		lines = append(lines, violationLine(v))
	}
	sort.Strings(lines)
	summary := fmt.Sprintf("Image fails the pin's gates (%d violation(s))", len(lines))
	detail := fmt.Sprintf("%s (%s) %s:\n  - %s\n\nSign the image or fix it, correct the `verify`/`policy` settings, or add an `exception` with a reason and an expiry.", ref, digest, context, strings.Join(lines, "\n  - "))
	if warn {
		diags.AddAttributeWarning(path.Root("ref"), summary+" (enforcement = warn)", detail)
	} else {
		diags.AddAttributeError(path.Root("ref"), summary, detail)
	}
}

// pinnedOf is repository@digest in the repository of a resolved tag.
func pinnedOf(r *registry.Resolved, digest string) string {
	return r.Ref.Repository.Name() + "@" + digest
}

func dbVersion(version int, updated time.Time) string {
	return fmt.Sprintf("%d@%s", version, updated.UTC().Format(time.RFC3339))
}

func violationIDs(v []policy.Violation) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range v {
		id := x.Found
		switch {
		case x.Finding != nil:
			id = x.Finding.ID
		case x.Secret != nil:
			id = "secret " + x.Secret.RuleID
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func countsOf(o *scanOutcome) types.Map {
	counts := map[string]attr.Value{}
	n := map[string]int64{}
	for _, r := range o.Results {
		for _, f := range r.Findings {
			sev := f.Severity
			if _, err := policy.ParseSeverity(sev); err != nil || sev == "" {
				sev = "UNKNOWN"
			}
			n[strings.ToUpper(sev)]++
		}
	}
	for _, s := range policy.SeverityNames {
		counts[s] = types.Int64Value(n[s])
	}
	m, _ := types.MapValue(types.Int64Type, counts)
	return m
}

// Create records what the plan approved.
func (r *pinResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan pinModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if plan.Digest.IsUnknown() || plan.Digest.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("ref"), "Nothing was approved at plan", "The plan did not approve a digest for "+plan.Ref.ValueString()+"; apply records only what the plan judged. Run plan again.")
		return
	}
	r.stampApproval(&plan)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Read keeps the record as it is: the judging happens in ModifyPlan, so a
// registry outage during refresh cannot change or drop the approval.
func (r *pinResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state pinModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if state.FindingsAtApproval.IsNull() {
		state.FindingsAtApproval = types.MapNull(types.Int64Type)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *pinResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan pinModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if plan.Digest.IsUnknown() || plan.Digest.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("ref"), "Nothing was approved at plan", "The plan did not approve a digest for "+plan.Ref.ValueString()+"; run plan again.")
		return
	}
	r.stampApproval(&plan)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// stampApproval records the approval time of a digest the plan approved.
func (r *pinResource) stampApproval(m *pinModel) {
	if m.ApprovedAt.IsUnknown() {
		m.ApprovedAt = types.StringValue(r.now().UTC().Format(time.RFC3339))
	}
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
	ref, digest := id[:at], id[at+1:]
	parsed, err := r.data.Registry.ParseReference(id)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import id", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &pinModel{
		ID: types.StringValue(ref), Ref: types.StringValue(ref), Platforms: types.ListNull(types.StringType), OnTagMove: types.StringNull(),
		Digest: types.StringValue(digest), Pinned: types.StringValue(parsed.Repository.Name() + "@" + digest),
		TagDigest: types.StringNull(), ApprovedAt: types.StringNull(), ApprovedDBVersion: types.StringNull(),
		FindingsAtApproval: types.MapNull(types.Int64Type),
	})...)
}

package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

type policyDataSource struct {
	dataSourceConfig
	now func() time.Time
}

func newPolicyDataSource() datasource.DataSource { return &policyDataSource{now: time.Now} }

type policyModel struct {
	rulesModel
	Images      types.Map             `tfsdk:"images"`
	Platforms   types.List            `tfsdk:"platforms"`
	Scan        *scanRulesModel       `tfsdk:"scan"`
	Verify      *policyVerifyModel    `tfsdk:"verify"`
	Enforcement types.String          `tfsdk:"enforcement"`
	Concurrency types.Int64           `tfsdk:"concurrency"`
	Pinned      types.Map             `tfsdk:"pinned"`
	Results     map[string]resultItem `tfsdk:"results"`
	ReportJSON  types.String          `tfsdk:"report_json"`
	ReportSARIF types.String          `tfsdk:"report_sarif"`
}

type policyVerifyModel struct {
	Require         types.String       `tfsdk:"require"`
	TrustedRootJSON types.String       `tfsdk:"trusted_root_json"`
	TLog            types.String       `tfsdk:"tlog"`
	Enforcement     types.String       `tfsdk:"enforcement"`
	Authorities     []authorityModel   `tfsdk:"authority"`
	AttestationReqs []attestationModel `tfsdk:"attestation"`

	RequireSignature types.Bool       `tfsdk:"require_signature"`
	Provenance       *provenanceModel `tfsdk:"provenance"`
}

type resultItem struct {
	Digest     types.String `tfsdk:"digest"`
	Passed     types.Bool   `tfsdk:"passed"`
	Violations types.List   `tfsdk:"violations"`
	Counts     types.Map    `tfsdk:"counts"`
}

// defaultConcurrency is how many unique digests are judged at once.
const (
	defaultConcurrency = 4
	maxConcurrency     = 64
)

func (d *policyDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_policy"
}

func (d *policyDataSource) Schema(ctx context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := ruleAttributes()
	attrs["images"] = schema.MapAttribute{Required: true, ElementType: types.StringType,
		MarkdownDescription: "Images to judge: name → reference, e.g. `{ api = \"registry.example.com/team/api:1.4.2\" }`. Names pointing at the same digest are judged once."}
	attrs["platforms"] = schema.ListAttribute{Optional: true, ElementType: types.StringType, Validators: platformsValidators(), MarkdownDescription: "Platforms of multi-platform indexes to judge. Default all."}
	attrs["enforcement"] = schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Enforcement()}, MarkdownDescription: "`error` (default): one error per failing image. `warn`: violations of the hardening rules become warnings. " +
		"It is also the default of the `scan` and `verify` blocks' own `enforcement`; a block's `warn` relaxes only that gate. An image is pinned unless a gate under `error` found a violation."}
	attrs["concurrency"] = schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, maxConcurrency)}, MarkdownDescription: fmt.Sprintf("Unique digests judged at once. Default %d.", defaultConcurrency)}
	attrs["pinned"] = schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Name → digest-pinned reference, only for images that passed (all under `warn`)."}
	attrs["results"] = schema.MapNestedAttribute{Computed: true, MarkdownDescription: "Name → verdict.",
		NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
			"digest":     cstr("Digest judged."),
			"passed":     schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the image passed every rule and gate."},
			"violations": schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Each violation as `rule: what was found (requires …)`, sorted."},
			"counts":     schema.MapAttribute{Computed: true, ElementType: types.Int64Type, MarkdownDescription: "Findings per severity (when scanned)."},
		}}}
	attrs["report_json"] = cstr("The verdict as JSON, schema `imageguard.report/v1` (see the docs), stable and sorted.")
	attrs["report_sarif"] = cstr("The violations as SARIF 2.1.0, for GitHub code scanning.")

	var scanSchema, verifySchema schema.Block
	{
		var tmp datasource.SchemaResponse
		(&scanDataSource{}).Schema(ctx, datasource.SchemaRequest{}, &tmp)
		sa := map[string]schema.Attribute{}
		for _, k := range []string{"severity_threshold", "ignore_unfixed", "unknown_severity", "scanners", "pkg_types", "vex", "enforcement"} {
			sa[k] = tmp.Schema.Attributes[k]
		}
		scanSchema = schema.SingleNestedBlock{MarkdownDescription: "Run the scan gate (as `imageguard_scan`) on every image. Its `enforcement` applies to the scan gate only; unset, the policy's `enforcement` applies.",
			Attributes: sa, Blocks: map[string]schema.Block{"ignore": tmp.Schema.Blocks["ignore"], "exploited": tmp.Schema.Blocks["exploited"]}}
		var vtmp datasource.SchemaResponse
		(&verifyDataSource{}).Schema(ctx, datasource.SchemaRequest{}, &vtmp)
		va := map[string]schema.Attribute{}
		for _, k := range []string{"require", "trusted_root_json", "tlog", "enforcement", "require_signature"} {
			va[k] = vtmp.Schema.Attributes[k]
		}
		verifySchema = schema.SingleNestedBlock{MarkdownDescription: "Run the signature gate (as `imageguard_verify`) on every image. Its `enforcement` applies to the signature gate only; unset, the policy's `enforcement` applies.",
			Attributes: va, Blocks: map[string]schema.Block{"authority": vtmp.Schema.Blocks["authority"], "attestation": vtmp.Schema.Blocks["attestation"], "provenance": vtmp.Schema.Blocks["provenance"]}}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "One policy over many images: hardening rules, the scan gate and the signature gate, judged during plan. " +
			"Each unique digest is resolved, scanned and verified once however many names point at it. A failing image is one error " +
			"diagnostic, complete on its own; `pinned` holds only the images that passed.",
		Attributes: attrs,
		Blocks:     map[string]schema.Block{"exception": exceptionBlock(), "scan": scanSchema, "verify": verifySchema},
	}
}

// policySettings are all of the policy's inputs as plain values.
type policySettings struct {
	Rules       policy.Rules
	Scan        *scanSettings
	Verify      *verifySettings
	Platforms   []string
	Enforcement report.Enforcement
	// ScanEnforcement and VerifyEnforcement are each gate's own: the
	// block's, else the policy's. One gate's `warn` never relaxes another.
	ScanEnforcement   report.Enforcement
	VerifyEnforcement report.Enforcement
	Concurrency       int
}

func readPolicySettings(ctx context.Context, m *policyModel) (policySettings, diag.Diagnostics) {
	var s policySettings
	rules, diags := readRules(ctx, &m.rulesModel, path.Root)
	s.Rules = rules
	s.Platforms = stringsOf(ctx, m.Platforms, &diags)
	s.Enforcement = readEnforcement(ctx, m.Enforcement, path.Root("enforcement"), &diags)
	if m.Scan != nil || gate.RulesNeedScan(rules) {
		sm := m.Scan
		if sm == nil {
			sm = (&pinModel{}).rules()
		}
		ss, d := readScanSettings(ctx, m.Platforms, sm, func(n string) path.Path { return path.Root("scan").AtName(n) })
		diags.Append(d...)
		s.ScanEnforcement = s.Enforcement
		if m.Scan != nil && m.Scan.Enforcement.ValueString() != "" {
			s.ScanEnforcement = ss.Enforcement
		}
		ss.Enforcement = report.EnforcementWarn // the gate's diagnostics are the policy's, per image
		s.Scan = &ss
	}
	if m.Verify != nil {
		vm := verifyModel{Require: m.Verify.Require, TrustedRootJSON: m.Verify.TrustedRootJSON, TLog: m.Verify.TLog, Enforcement: m.Verify.Enforcement,
			Authorities: m.Verify.Authorities, AttestationReqs: m.Verify.AttestationReqs, Platforms: m.Platforms,
			RequireSignature: m.Verify.RequireSignature, Provenance: m.Verify.Provenance}
		vs, d := readVerifySettings(ctx, &vm, func(n string) path.Path { return path.Root("verify").AtName(n) })
		diags.Append(d...)
		s.VerifyEnforcement = s.Enforcement
		if m.Verify.Enforcement.ValueString() != "" {
			s.VerifyEnforcement = vs.Enforcement
		}
		vs.Enforcement = report.EnforcementWarn
		s.Verify = &vs
	}
	s.Concurrency = defaultConcurrency
	if !m.Concurrency.IsNull() && !m.Concurrency.IsUnknown() {
		s.Concurrency = int(m.Concurrency.ValueInt64()) // int64validator.Between owns the range
	}
	return s, diags
}

func (d *policyDataSource) ValidateConfig(ctx context.Context, req datasource.ValidateConfigRequest, resp *datasource.ValidateConfigResponse) {
	validateSettings(ctx, req.Config, &resp.Diagnostics, readPolicySettings)
}

func (d *policyDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx = withLogging(ctx)
	var m policyModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, diags := readPolicySettings(ctx, &m)
	resp.Diagnostics.Append(diags...)
	images := map[string]string{}
	resp.Diagnostics.Append(m.Images.ElementsAs(ctx, &images, false)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if len(images) == 0 {
		resp.Diagnostics.AddAttributeError(path.Root("images"), "No images", "`images` is empty: give at least one name → reference.")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d.data.Timeout)
	defer cancel()
	now := d.now().UTC()

	names, resolved, outcome, diags := d.evaluate(ctx, images, s, now)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}

	m.Results = map[string]resultItem{}
	pinned := map[string]attr.Value{}
	rep := report.Report{GeneratedAt: now}
	for _, n := range names {
		v := outcome.For(resolved[n])
		if v.Err != nil {
			at := path.Root("images").AtMapKey(n)
			addJudgeError(&resp.Diagnostics, v.Err, at, policyBlocks)
			continue
		}
		if v.DB != nil && rep.DB == nil {
			rep.DB = &v.DB.DB
		}
		passed := len(v.Violations) == 0
		var lines []string
		var exceptBy []policy.Violation
		for _, viol := range v.Violations {
			viol.Image = images[n]
			exceptBy = append(exceptBy, viol)
			lines = append(lines, violationLine(viol))
		}
		if !passed {
			detail := fmt.Sprintf("%s = %s (%s) violates the policy:\n  - %s\n\nFix the image, or accept a violation with an `exception { rule = \"…\", reason = \"…\", expires = \"YYYY-MM-DD\" }` (or an `ignore` in the `scan` block for a finding).",
				n, images[n], v.Resolved.Digest, strings.Join(lines, "\n  - "))
			summary := fmt.Sprintf("Image %q violates the policy (%d violation(s))", n, len(lines))
			enforcement := report.EnforcementError
			if !v.Blocking {
				enforcement = report.EnforcementWarn
			}
			addMessage(&resp.Diagnostics, path.Root("images").AtMapKey(n), report.Violations(enforcement, summary, detail))
		}
		for _, w := range v.Warnings {
			resp.Diagnostics.AddAttributeWarning(path.Root("images").AtMapKey(n), "Policy warning", fmt.Sprintf("%s: %s", n, w))
		}
		if !v.Blocking {
			pinned[n] = types.StringValue(v.Pinned.String())
		}
		cm := countsValue(v.Counts)
		vl, _ := types.ListValueFrom(ctx, types.StringType, nonNil(lines))
		m.Results[n] = resultItem{Digest: types.StringValue(v.Resolved.Digest.String()), Passed: types.BoolValue(passed), Violations: vl, Counts: cm}
		img := report.ImageResult{Name: n, Ref: images[n], Digest: v.Resolved.Digest.String(), Warnings: v.Warnings}
		for _, viol := range exceptBy {
			img.Violations = append(img.Violations, report.FromViolation(viol))
		}
		for _, sup := range v.Ignored {
			img.Suppressed = append(img.Suppressed, report.FromSuppression(sup))
		}
		rep.Images = append(rep.Images, img)
	}
	if resp.Diagnostics.HasError() && len(m.Results) < len(names) {
		return
	}
	var cd diag.Diagnostics
	m.Pinned, cd = types.MapValue(types.StringType, pinned)
	resp.Diagnostics.Append(cd...)
	js, err := report.JSON(rep)
	if err != nil {
		resp.Diagnostics.AddError("Report failed", err.Error())
		return
	}
	sarif, err := report.SARIF(rep, d.data.Version)
	if err != nil {
		resp.Diagnostics.AddError("Report failed", err.Error())
		return
	}
	m.ReportJSON = types.StringValue(js)
	m.ReportSARIF = types.StringValue(sarif)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// evaluate resolves every name and runs the policy's gates
// (internal/gate): each unique digest judged once, s.Concurrency at a time.
func (d *policyDataSource) evaluate(ctx context.Context, images map[string]string, s policySettings, now time.Time) ([]string, map[string]*gate.Resolved, *gate.PolicyOutcome, diag.Diagnostics) {
	var diags diag.Diagnostics
	names := make([]string, 0, len(images))
	for n := range images {
		names = append(names, n)
	}
	sort.Strings(names)
	const resolving = 10
	resolved, errs := gate.ResolveAll(ctx, d.data.Registry, images, resolving)
	for _, n := range names {
		diags.Append(resolveDiagnostics(path.Root("images").AtMapKey(n), images[n], resolved[n], errs[n])...)
	}
	if diags.HasError() {
		return nil, nil, nil, diags
	}
	gs := gate.PolicySettings{Platforms: s.Platforms, Rules: s.Rules, RulesEnforcement: s.Enforcement,
		ScanEnforcement: s.ScanEnforcement, VerifyEnforcement: s.VerifyEnforcement, Concurrency: s.Concurrency}
	if s.Scan != nil {
		sg := s.Scan.gateSettings(d.data)
		sg.Platforms, sg.Reports = s.Platforms, false
		gs.Scan = &sg
	}
	if s.Verify != nil {
		v, err := d.data.verifier(s.Verify.Options)
		if err != nil {
			diags.AddAttributeError(path.Root("verify").AtName("trusted_root_json"), "Invalid trust material", err.Error())
			return nil, nil, nil, diags
		}
		gs.Verify = &gate.VerifySettings{Platforms: s.Platforms, Authorities: s.Verify.Authorities, Attestations: s.Verify.Attestation, Rules: s.Verify.Rules}
		gs.Verifier = v
	}
	outcome := gate.Policy(ctx, d.data.Registry, d.data.Scanner, resolved, gs, now)
	d.data.verifications.Add(outcome.Verified.Load())
	return names, resolved, outcome, diags
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// violationLine is one violation in a sentence (internal/report).
func violationLine(v policy.Violation) string { return report.LineOf(v) }

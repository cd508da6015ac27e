package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
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

type scanDataSource struct {
	dataSourceConfig
	now func() time.Time
}

func newScanDataSource() datasource.DataSource { return &scanDataSource{now: time.Now} }

type scanModel struct {
	Image             types.String     `tfsdk:"image"`
	Platforms         types.List       `tfsdk:"platforms"`
	SeverityThreshold types.String     `tfsdk:"severity_threshold"`
	IgnoreUnfixed     types.Bool       `tfsdk:"ignore_unfixed"`
	UnknownSeverity   types.String     `tfsdk:"unknown_severity"`
	Scanners          types.List       `tfsdk:"scanners"`
	PkgTypes          types.List       `tfsdk:"pkg_types"`
	Ignore            []ignoreModel    `tfsdk:"ignore"`
	Exploited         *exploitedModel  `tfsdk:"exploited"`
	VEX               types.List       `tfsdk:"vex"`
	Enforcement       types.String     `tfsdk:"enforcement"`
	Pinned            types.String     `tfsdk:"pinned"`
	Digest            types.String     `tfsdk:"digest"`
	Passed            types.Bool       `tfsdk:"passed"`
	DB                *dbModel         `tfsdk:"db"`
	Findings          []findingModel   `tfsdk:"findings"`
	Secrets           []secretModel    `tfsdk:"secrets"`
	Counts            types.Map        `tfsdk:"counts"`
	Ignored           []ignoredModel   `tfsdk:"ignored"`
	Targets           []targetModel    `tfsdk:"targets"`
	Violations        []violationModel `tfsdk:"violations"`
}

type ignoreModel struct {
	ID       types.String `tfsdk:"id"`
	Reason   types.String `tfsdk:"reason"`
	Expires  types.String `tfsdk:"expires"`
	Packages types.List   `tfsdk:"packages"`
}

type dbModel struct {
	Version    types.Int64  `tfsdk:"version"`
	UpdatedAt  types.String `tfsdk:"updated_at"`
	NextUpdate types.String `tfsdk:"next_update"`
}

type findingModel struct {
	ID               types.String `tfsdk:"id"`
	Severity         types.String `tfsdk:"severity"`
	Package          types.String `tfsdk:"package"`
	InstalledVersion types.String `tfsdk:"installed_version"`
	FixedVersion     types.String `tfsdk:"fixed_version"`
	Status           types.String `tfsdk:"status"`
	Title            types.String `tfsdk:"title"`
	Target           types.String `tfsdk:"target"`
	Platform         types.String `tfsdk:"platform"`
	KEV              *kevModel    `tfsdk:"kev"`
	EPSS             *epssModel   `tfsdk:"epss"`
}

type secretModel struct {
	RuleID   types.String `tfsdk:"rule_id"`
	Category types.String `tfsdk:"category"`
	Severity types.String `tfsdk:"severity"`
	Target   types.String `tfsdk:"target"`
	Line     types.Int64  `tfsdk:"line"`
	Platform types.String `tfsdk:"platform"`
}

type ignoredModel struct {
	ID       types.String `tfsdk:"id"`
	Package  types.String `tfsdk:"package"`
	Platform types.String `tfsdk:"platform"`
	Reason   types.String `tfsdk:"reason"`
}

type targetModel struct {
	Platform types.String `tfsdk:"platform"`
	Target   types.String `tfsdk:"target"`
}

type violationModel struct {
	Rule     types.String `tfsdk:"rule"`
	Platform types.String `tfsdk:"platform"`
	Message  types.String `tfsdk:"message"`
}

func (d *scanDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_scan"
}

func computedObjectList(desc string, attrs map[string]schema.Attribute) schema.ListNestedAttribute {
	return schema.ListNestedAttribute{Computed: true, MarkdownDescription: desc, NestedObject: schema.NestedAttributeObject{Attributes: attrs}}
}

func cstr(desc string) schema.StringAttribute {
	return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
}

func (d *scanDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Vulnerability and secret gate, by Trivy v0.74.0 as a library. Resolves `image` to its digest, scans every " +
			"platform image (OS packages, language packages, secrets in layers and in the image config) against the Trivy database, and fails " +
			"the plan when a finding is at or above `severity_threshold`, a secret is baked in, or a platform's OS release has no advisory data " +
			"(`OS-UNSUPPORTED`), is past its end of life (`OS-EOSL`) or shows no OS package at all (`OS-PACKAGES-UNSEEN`: its package database deleted), or a finding has no severity yet (`unknown_severity`). A missing, stale, future-dated or unreadable database is an " +
			"error, never a pass. `pinned` is set only when the gate passed (or under `enforcement = \"warn\"`).",
		Attributes: map[string]schema.Attribute{
			"image": schema.StringAttribute{Required: true,
				MarkdownDescription: "Image reference. A tag is resolved first and everything is judged on that digest; a reference with a digest is checked against the registry."},
			"platforms": schema.ListAttribute{Optional: true, ElementType: types.StringType, Validators: platformsValidators(),
				MarkdownDescription: "Platforms of a multi-platform index to scan, as `os/arch[/variant]`. Default: all of the index's platforms, because the index digest is what gets deployed."},
			"severity_threshold": schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Severity()},
				MarkdownDescription: "`UNKNOWN`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`: a finding at or above it is a violation. Default `HIGH`."},
			"ignore_unfixed": schema.BoolAttribute{Optional: true,
				MarkdownDescription: "Do not count findings that have no fixed version yet, as `trivy --ignore-unfixed`. Default `false`."},
			"unknown_severity": unknownSeverityAttribute(),
			"scanners": schema.ListAttribute{Optional: true, ElementType: types.StringType, Validators: []validator.List{listvalidator.ValueStringsAre(validate.OneOf(gate.ScannerVuln, gate.ScannerSecret))},
				MarkdownDescription: "Subset of `vuln` and `secret`. Default both."},
			"pkg_types": schema.ListAttribute{Optional: true, ElementType: types.StringType, Validators: []validator.List{listvalidator.ValueStringsAre(validate.OneOf(gate.PkgTypeOS, gate.PkgTypeLib))},
				MarkdownDescription: "Subset of `os` and `library`. Default both."},
			"vex": schema.ListAttribute{Optional: true, ElementType: types.StringType,
				MarkdownDescription: "VEX documents (OpenVEX, CycloneDX VEX or CSAF JSON), as `trivy --vex` reads them, e.g. `[file(\"vex.json\")]`. Statements of `not_affected` or `fixed` suppress findings; they appear in `ignored`."},
			"enforcement": schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Enforcement()},
				MarkdownDescription: "`error` (default): violations fail the plan. `warn`: violations become warnings and `pinned` is set (audit mode). Errors (registry, database) stay errors."},
			"pinned": cstr("`registry/repository@digest`, set only when the gate passed or under `warn`; null otherwise."),
			"digest": cstr("Digest of what `image` names (the index for a multi-platform image)."),
			"passed": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether there are no violations."},
			"db": schema.SingleNestedAttribute{Computed: true, MarkdownDescription: "The vulnerability database the image was judged against.",
				Attributes: map[string]schema.Attribute{
					"version":     schema.Int64Attribute{Computed: true, MarkdownDescription: "Schema version (2)."},
					"updated_at":  cstr("When the database was built, RFC 3339."),
					"next_update": cstr("When a newer database is due, RFC 3339."),
				}},
			"findings": computedObjectList("Every vulnerability found (after VEX), sorted by severity (worst first) then id.", map[string]schema.Attribute{
				"id": cstr("CVE, GHSA, … id."), "severity": cstr("Trivy's severity."), "package": cstr("Package name."),
				"installed_version": cstr("Installed version."), "fixed_version": cstr("First fixed version(s); empty when there is none."),
				"status": cstr("Trivy's status: `fixed`, `affected`, `will_not_fix`, …"), "title": cstr("Advisory title."),
				"target": cstr("Where the package was found: the OS, or the file."), "platform": cstr("Platform image it is in."),
				"kev": kevOutputAttribute(), "epss": epssOutputAttribute(),
			}),
			"secrets": computedObjectList("Secrets found in layers and in the image config, sorted. Never the secret's text.", map[string]schema.Attribute{
				"rule_id": cstr("Trivy's secret rule id, e.g. `aws-access-key-id`."), "category": cstr("Rule category, e.g. `AWS`."),
				"severity": cstr("Rule severity."), "target": cstr("File path, or the image config."),
				"line": schema.Int64Attribute{Computed: true, MarkdownDescription: "Line number in the file."}, "platform": cstr("Platform image it is in."),
			}),
			"counts": schema.MapAttribute{Computed: true, ElementType: types.Int64Type,
				MarkdownDescription: "Number of `findings` per severity, with every severity present, e.g. `{CRITICAL = 0, HIGH = 2, …}`."},
			"ignored": computedObjectList("What an `ignore`, `ignore_unfixed` or a VEX statement suppressed, and why.", map[string]schema.Attribute{
				"id": cstr("Finding id or secret rule id."), "package": cstr("Package (or file, for a secret)."),
				"platform": cstr("Platform image."), "reason": cstr("Why it was suppressed."),
			}),
			"targets": computedObjectList("What was scanned, per platform: the OS (family and version) and each language package file, e.g. `node-pkg: app/node_modules/lodash/package.json`.", map[string]schema.Attribute{
				"platform": cstr("Platform image."), "target": cstr("What was scanned."),
			}),
			"violations": computedObjectList("Why the gate failed, one entry per violating finding or secret.", map[string]schema.Attribute{
				"rule": cstr("`severity`, `unknown-severity` (a finding not scored yet), `secret`, `OS-UNSUPPORTED` (no advisory data for the OS release), `OS-EOSL` (OS release past its end of life) or `OS-PACKAGES-UNSEEN` (OS detected, its package database missing or empty)."), "platform": cstr("Platform image."), "message": cstr("The violation in words."),
			}),
		},
		Blocks: map[string]schema.Block{
			"exploited": exploitedDataSourceBlock(),
			"ignore": schema.ListNestedBlock{
				MarkdownDescription: "An accepted risk: the finding, secret rule or OS coverage violation with this id is not a violation until `expires`. An expired ignore stops applying and warns.",
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"id":       schema.StringAttribute{Required: true, MarkdownDescription: "Vulnerability id (e.g. `CVE-2023-5363`), secret rule id (e.g. `aws-access-key-id`), `OS-UNSUPPORTED`, `OS-EOSL` or `OS-PACKAGES-UNSEEN` (accept an image whose OS package database was removed)."},
					"reason":   schema.StringAttribute{Required: true, MarkdownDescription: "Why the risk is accepted. Required, and must not be empty."},
					"expires":  schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Date()}, MarkdownDescription: "Last day the ignore applies, `YYYY-MM-DD` (UTC)."},
					"packages": schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Only in these packages. Default: any package."},
				}},
			},
		},
	}
}

// scanSettings are the gate's inputs as plain values.
type scanSettings struct {
	Platforms   []string
	Rules       policy.ScanRules
	Options     gate.ScanOptions
	VEX         []string
	Enforcement report.Enforcement
	// Preamble, when set, opens the failure message (imageguard_pin says
	// which approval now fails) and Subject prefixes its summary.
	Preamble, Subject string
	// Reports keeps Trivy's reports on the outcome (imageguard_attestation
	// signs them); other gates judge summaries only.
	Reports bool
	// Exploited is the gate's `exploited` block; nil without one.
	Exploited *gate.ExploitedBlock
}

// scanRulesModel holds the scan gate's settings: the top-level attributes
// of imageguard_scan, and the `scan` block of imageguard_pin.
type scanRulesModel struct {
	SeverityThreshold types.String    `tfsdk:"severity_threshold"`
	IgnoreUnfixed     types.Bool      `tfsdk:"ignore_unfixed"`
	UnknownSeverity   types.String    `tfsdk:"unknown_severity"`
	Scanners          types.List      `tfsdk:"scanners"`
	PkgTypes          types.List      `tfsdk:"pkg_types"`
	Ignore            []ignoreModel   `tfsdk:"ignore"`
	Exploited         *exploitedModel `tfsdk:"exploited"`
	VEX               types.List      `tfsdk:"vex"`
	Enforcement       types.String    `tfsdk:"enforcement"`
}

func (m *scanModel) rules() *scanRulesModel {
	return &scanRulesModel{SeverityThreshold: m.SeverityThreshold, IgnoreUnfixed: m.IgnoreUnfixed, UnknownSeverity: m.UnknownSeverity, Scanners: m.Scanners,
		PkgTypes: m.PkgTypes, Ignore: m.Ignore, VEX: m.VEX, Enforcement: m.Enforcement, Exploited: m.Exploited}
}

// readScanSettings converts and validates the gate's inputs; at names an
// attribute of the block holding them.
func readScanSettings(ctx context.Context, platforms types.List, m *scanRulesModel, at func(string) path.Path) (scanSettings, diag.Diagnostics) {
	var diags diag.Diagnostics
	var s scanSettings
	// The schema's validators own every value's shape (platforms,
	// severities, scanners, package types, dates): conversion assumes them.
	s.Platforms = stringsOf(ctx, platforms, &diags)
	s.Rules.Threshold = policy.SeverityHigh
	if v := m.SeverityThreshold.ValueString(); v != "" {
		s.Rules.Threshold, _ = policy.ParseSeverity(v)
	}
	s.Rules.IgnoreUnfixed = m.IgnoreUnfixed.ValueBool()
	// The validator owns the values; an unknown one waits for the read.
	s.Rules.Unscored, _ = policy.ParseUnscored(m.UnknownSeverity.ValueString())
	s.Options.Scanners = stringsOf(ctx, m.Scanners, &diags)
	if !m.Scanners.IsNull() && !m.Scanners.IsUnknown() && len(s.Options.Scanners) == 0 {
		diags.AddAttributeError(at("scanners"), "No scanner", "`scanners` is empty: nothing would be scanned. Give \"vuln\" and/or \"secret\", or remove it for both.")
	}
	s.Options.PkgTypes = stringsOf(ctx, m.PkgTypes, &diags)
	if !m.PkgTypes.IsNull() && !m.PkgTypes.IsUnknown() && len(s.Options.PkgTypes) == 0 {
		diags.AddAttributeError(at("pkg_types"), "No package type", "`pkg_types` is empty. Give \"os\" and/or \"library\", or remove it for both.")
	}
	for i, ig := range m.Ignore {
		ip := at("ignore").AtListIndex(i)
		if ig.ID.IsUnknown() || ig.Reason.IsUnknown() || ig.Expires.IsUnknown() {
			continue
		}
		rule := policy.Ignore{ID: strings.TrimSpace(ig.ID.ValueString()), Reason: strings.TrimSpace(ig.Reason.ValueString())}
		if rule.ID == "" {
			diags.AddAttributeError(ip.AtName("id"), "Ignore without id", "An `ignore` block needs the id of the finding or secret rule it accepts.")
		}
		if rule.Reason == "" {
			diags.AddAttributeError(ip.AtName("reason"), "Ignore without a reason",
				fmt.Sprintf("The ignore for %q has an empty `reason`. Say why the risk is accepted, so the next reader can judge it.", rule.ID))
		}
		if e := ig.Expires.ValueString(); e != "" {
			rule.Expires, _ = time.Parse("2006-01-02", e)
		}
		rule.Packages = stringsOf(ctx, ig.Packages, &diags)
		s.Rules.Ignores = append(s.Rules.Ignores, rule)
	}
	s.Rules.Exploited, s.Exploited = readExploited(m.Exploited)
	s.VEX = stringsOf(ctx, m.VEX, &diags)
	s.Enforcement = readEnforcement(ctx, m.Enforcement, at("enforcement"), &diags)
	return s, diags
}

func (d *scanDataSource) ValidateConfig(ctx context.Context, req datasource.ValidateConfigRequest, resp *datasource.ValidateConfigResponse) {
	validateSettings(ctx, req.Config, &resp.Diagnostics, func(ctx context.Context, m *scanModel) (scanSettings, diag.Diagnostics) {
		return readScanSettings(ctx, m.Platforms, m.rules(), path.Root)
	})
}

func (d *scanDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx = withLogging(ctx)
	var m scanModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	settings, diags := readScanSettings(ctx, m.Platforms, m.rules(), path.Root)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d.data.Timeout)
	defer cancel()

	j := judgeImage(ctx, d.data, &resp.Diagnostics, m.Image.ValueString(), gateInputs{Scan: &settings}, d.now())
	if j == nil {
		return
	}
	fillScan(ctx, j, &m, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// fillScan sets imageguard_scan's outputs from its judgement.
func fillScan(ctx context.Context, j *gate.Judgement, m *scanModel, _ *diag.Diagnostics) {
	o := j.Scan
	m.Digest = types.StringValue(o.Resolved.Digest.String())
	m.Pinned = types.StringNull()
	if !j.Blocking {
		m.Pinned = types.StringValue(j.Pinned.String())
	}
	m.Passed = types.BoolValue(o.Passed())
	m.DB = &dbModel{
		Version:    types.Int64Value(int64(o.DB.SchemaVersion)),
		UpdatedAt:  types.StringValue(o.DB.UpdatedAt.UTC().Format(time.RFC3339)),
		NextUpdate: types.StringValue(o.DB.NextUpdate.UTC().Format(time.RFC3339)),
	}
	m.Findings = []findingModel{}
	m.Secrets = []secretModel{}
	m.Targets = []targetModel{}
	var all []policy.Finding
	for _, r := range o.Results {
		all = append(all, r.Findings...)
		for _, s := range r.Secrets {
			m.Secrets = append(m.Secrets, secretModel{RuleID: types.StringValue(s.RuleID), Category: types.StringValue(s.Category), Severity: types.StringValue(s.Severity),
				Target: types.StringValue(s.Target), Line: types.Int64Value(int64(s.Line)), Platform: types.StringValue(s.Platform)})
		}
		for _, t := range r.Targets {
			m.Targets = append(m.Targets, targetModel{Platform: types.StringValue(r.Platform), Target: types.StringValue(t)})
		}
	}
	gate.SortFindings(all)
	for _, f := range all {
		m.Findings = append(m.Findings, findingModel{ID: types.StringValue(f.ID), Severity: types.StringValue(f.Severity), Package: types.StringValue(f.Package),
			InstalledVersion: types.StringValue(f.InstalledVersion), FixedVersion: types.StringValue(f.FixedVersion), Status: types.StringValue(f.Status),
			Title: types.StringValue(f.Title), Target: types.StringValue(f.Target), Platform: types.StringValue(f.Platform),
			KEV: kevModelOf(f.KEV), EPSS: epssModelOf(f.EPSS)})
	}
	m.Counts = countsValue(report.SeverityCounts(all))
	m.Ignored = []ignoredModel{}
	for _, r := range o.Results {
		for _, s := range r.Suppressed {
			m.Ignored = append(m.Ignored, ignoredModel{ID: types.StringValue(s.ID), Package: types.StringValue(s.Package), Platform: types.StringValue(s.Platform), Reason: types.StringValue(s.Reason)})
		}
	}
	for _, s := range o.Decision.Ignored {
		m.Ignored = append(m.Ignored, ignoredModel{ID: types.StringValue(s.ID), Package: types.StringValue(s.Package), Platform: types.StringValue(s.Platform), Reason: types.StringValue(s.Reason)})
	}
	m.Violations = []violationModel{}
	for _, v := range o.Decision.Violations {
		m.Violations = append(m.Violations, violationModel{Rule: types.StringValue(v.Rule), Platform: types.StringValue(v.Platform), Message: types.StringValue(report.Line(v))})
	}
	_ = ctx
}

// unknownSeverityAttribute is `unknown_severity`, in every scan gate.
func unknownSeverityAttribute() schema.StringAttribute {
	return schema.StringAttribute{Optional: true, Validators: []validator.String{validate.OneOf(policy.UnscoredActions...)},
		MarkdownDescription: "What a finding with no severity (`UNKNOWN`: typically a CVE too new to be scored) does when `severity_threshold` is above `UNKNOWN`, since nobody can say it is below the threshold: " +
			"`fail` (default) makes it a violation (`unknown-severity`) naming the CVE, `warn` names each one in a warning, `ignore` records each in `ignored`. " +
			"The default fails because an unscored flaw may be critical; accept one after reading its advisory with an `ignore` block (reason and expiry)."}
}

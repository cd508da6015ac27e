package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

type imageDataSource struct {
	dataSourceConfig
}

func newImageDataSource() datasource.DataSource { return &imageDataSource{} }

type imageModel struct {
	Ref            types.String     `tfsdk:"ref"`
	Platform       types.String     `tfsdk:"platform"`
	Digest         types.String     `tfsdk:"digest"`
	Pinned         types.String     `tfsdk:"pinned"`
	MediaType      types.String     `tfsdk:"media_type"`
	Platforms      []platformModel  `tfsdk:"platforms"`
	PlatformDigest types.String     `tfsdk:"platform_digest"`
	TagDigest      types.String     `tfsdk:"tag_digest"`
	OS             types.String     `tfsdk:"os"`
	Architecture   types.String     `tfsdk:"architecture"`
	User           types.String     `tfsdk:"user"`
	Labels         types.Map        `tfsdk:"labels"`
	ExposedPorts   types.List       `tfsdk:"exposed_ports"`
	EnvNames       types.List       `tfsdk:"env_names"`
	Entrypoint     types.List       `tfsdk:"entrypoint"`
	Cmd            types.List       `tfsdk:"cmd"`
	Created        types.String     `tfsdk:"created"`
	Layers         types.Int64      `tfsdk:"layers"`
	Size           types.Int64      `tfsdk:"size"`
	Annotations    types.Map        `tfsdk:"annotations"`
	Rules          *imageRulesModel `tfsdk:"rules"`
	Passed         types.Bool       `tfsdk:"passed"`
	Violations     types.List       `tfsdk:"violations"`
}

// imageRulesModel is the `rules` block: the policy's rules on one image.
type imageRulesModel struct {
	rulesModel
	Enforcement types.String `tfsdk:"enforcement"`
}

type platformModel struct {
	Platform types.String `tfsdk:"platform"`
	Digest   types.String `tfsdk:"digest"`
}

func (d *imageDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_image"
}

func (d *imageDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computedString := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	computedList := func(desc string) schema.ListAttribute {
		return schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Pins one image: resolves its reference to the digest the registry serves now and describes the image " +
			"that digest names. A reference that carries a digest is fetched by that digest and checked against it, never trusted. " +
			"`pinned` is the form every later gate and deployment should use.",
		Attributes: map[string]schema.Attribute{
			"ref": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "Image reference: `registry/repository:tag`, `registry/repository@sha256:<digest>` or both " +
					"(`:tag@sha256:…`: the digest wins and a warning names both digests when the tag has moved). A missing tag means `latest`.",
			},
			"platform": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Platform to describe when `ref` names a multi-platform index, as `os/arch[/variant]`, e.g. `\"linux/arm64\"`. " +
					"Default `\"linux/amd64\"` for an index. For a single-platform image it must match the image's platform.",
			},
			"digest": computedString("Digest of what `ref` names: the index for a multi-platform image, else the image manifest."),
			"pinned": computedString("`registry/repository@digest`: the digest-pinned reference to deploy. Without `platform`, what `ref` resolves to (the index of a multi-platform image; " +
				"with a `rules` block, every platform of it judged). With `platform` set on an index, that platform's own manifest, the one described (and judged by `rules`): " +
				"never the index, whose other platforms nobody saw."),
			"media_type": computedString("Media type of the manifest or index `ref` names."),
			"platforms": schema.ListNestedAttribute{
				Computed: true,
				MarkdownDescription: "For an index: its runnable platforms, sorted, each with its manifest digest " +
					"(attestation manifests with platform `unknown/unknown` are left out). Empty for a single-platform image.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"platform": computedString("`os/arch[/variant]`."),
					"digest":   computedString("Digest of that platform's image manifest."),
				}},
			},
			"platform_digest": computedString("Digest of the image manifest described below: the one chosen by `platform` from an index, else `digest`."),
			"tag_digest":      computedString("For a `tag@digest` reference: the digest the tag points to now. Null otherwise."),
			"os":              computedString("Operating system from the image config."),
			"architecture":    computedString("CPU architecture from the image config (with the variant, e.g. `arm64/v8`, when set)."),
			"user":            computedString("`User` from the image config; empty means root."),
			"labels": schema.MapAttribute{
				Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Labels from the image config.",
			},
			"exposed_ports": computedList("Exposed ports from the image config, sorted, e.g. `[\"22/tcp\", \"8080/tcp\"]`."),
			"env_names":     computedList("Names of the environment variables set in the image config, sorted. Values are left out: they can hold secrets."),
			"entrypoint":    computedList("`Entrypoint` from the image config."),
			"cmd":           computedList("`Cmd` from the image config."),
			"created":       computedString("Creation time from the image config, RFC 3339. Null when the config has none."),
			"layers":        schema.Int64Attribute{Computed: true, MarkdownDescription: "Number of layers."},
			"size":          schema.Int64Attribute{Computed: true, MarkdownDescription: "Sum of the compressed layer sizes in bytes."},
			"annotations": schema.MapAttribute{
				Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Annotations of the image manifest, on top of those of the index that `ref` names (the manifest's win).",
			},
			"passed": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the image passes the `rules` (true without a `rules` block)."},
			"violations": schema.ListAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "The `rules` the image violates, one sentence each, sorted."},
		},
		Blocks: map[string]schema.Block{
			"rules": imageRulesBlock(),
		},
	}
}

func imageRulesBlock() schema.SingleNestedBlock {
	attrs := ruleAttributes()
	attrs["enforcement"] = schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Enforcement()}, MarkdownDescription: "`error` (default): a violation fails the plan. `warn`: warnings only."}
	return schema.SingleNestedBlock{
		MarkdownDescription: "Hardening rules for this image, as in `imageguard_policy` (so a module can start small). `forbidden_packages` and `secrets_in_config` scan the image.",
		Attributes:          attrs,
		Blocks:              map[string]schema.Block{"exception": exceptionBlock()},
	}
}

func (d *imageDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx = withLogging(ctx)
	var m imageModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d.data.Timeout)
	defer cancel()

	resolved, diags := resolveRef(ctx, d.data, m.Ref.ValueString(), path.Root("ref"))
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	inspected, err := gate.Inspect(ctx, d.data.Registry, resolved, m.Platform.ValueString())
	if err != nil {
		addGateError(&resp.Diagnostics, err, path.Root("ref"), nil)
		return
	}
	img := inspected.Image

	m.Digest = types.StringValue(resolved.Digest.String())
	// `platform` on an index narrows the hand-out to the manifest described
	// (and judged by `rules`).
	m.Pinned = types.StringValue(inspected.Pinned.String())
	m.MediaType = types.StringValue(string(resolved.MediaType))
	m.Platforms = []platformModel{}
	for _, p := range resolved.Platforms {
		m.Platforms = append(m.Platforms, platformModel{Platform: types.StringValue(p.Platform), Digest: types.StringValue(p.Digest.String())})
	}
	m.PlatformDigest = types.StringValue(img.Digest.String())
	m.TagDigest = types.StringNull()
	if resolved.TagDigest != "" {
		m.TagDigest = types.StringValue(resolved.TagDigest)
	}
	cfg := img.Config
	m.OS = types.StringValue(cfg.OS)
	arch := cfg.Architecture
	if cfg.Variant != "" {
		arch += "/" + cfg.Variant
	}
	m.Architecture = types.StringValue(arch)
	m.User = types.StringValue(cfg.Config.User)
	m.Labels = stringMap(ctx, cfg.Config.Labels, &resp.Diagnostics)
	ports := make([]string, 0, len(cfg.Config.ExposedPorts))
	for p := range cfg.Config.ExposedPorts {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	m.ExposedPorts = stringList(ctx, ports, &resp.Diagnostics)
	names := make([]string, 0, len(cfg.Config.Env))
	for _, e := range cfg.Config.Env {
		n, _, _ := strings.Cut(e, "=")
		names = append(names, n)
	}
	sort.Strings(names)
	m.EnvNames = stringList(ctx, names, &resp.Diagnostics)
	m.Entrypoint = stringList(ctx, cfg.Config.Entrypoint, &resp.Diagnostics)
	m.Cmd = stringList(ctx, cfg.Config.Cmd, &resp.Diagnostics)
	m.Created = types.StringNull()
	if !cfg.Created.IsZero() {
		m.Created = types.StringValue(cfg.Created.UTC().Format(time.RFC3339))
	}
	m.Layers = types.Int64Value(int64(len(img.Manifest.Layers)))
	m.Size = types.Int64Value(img.Size())
	m.Annotations = stringMap(ctx, inspected.Annotations, &resp.Diagnostics)

	m.Passed = types.BoolValue(true)
	var lines []string
	if m.Rules != nil {
		lines = d.judgeRules(ctx, &m, resolved, &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
		m.Passed = types.BoolValue(len(lines) == 0)
	}
	m.Violations = stringList(ctx, lines, &resp.Diagnostics)

	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// judgeRules applies the `rules` block: to the platform `platform` names
// (and then `pinned` names that platform's manifest, the one judged), else
// to every platform of an index.
func (d *imageDataSource) judgeRules(ctx context.Context, m *imageModel, resolved *gate.Resolved, diags *diag.Diagnostics) []string {
	at := func(n string) path.Path { return path.Root("rules").AtName(n) }
	rules, ds := readRules(ctx, &m.Rules.rulesModel, at)
	diags.Append(ds...)
	enforcement := readEnforcement(ctx, m.Rules.Enforcement, at("enforcement"), diags)
	if diags.HasError() {
		return nil
	}
	var platforms []string
	if p := m.Platform.ValueString(); p != "" {
		platforms = []string{p}
	}
	j, err := gate.Judge(ctx, gate.Target{Registry: d.data.Registry, Resolved: resolved},
		gate.Gates{Now: time.Now(), Rules: &gate.RulesGate{Scanner: d.data.Scanner, Platforms: platforms, Rules: rules, Enforcement: enforcement}})
	if err != nil {
		addJudgeError(diags, err, path.Root("ref"), gateBlocks{gate.KindRules: {"rules"}})
		return nil
	}
	for _, w := range j.Rules.Warnings {
		diags.AddAttributeWarning(path.Root("rules"), "Rule warning", w)
	}
	lines, summary, detail := report.ImageRulesFailure(m.Ref.ValueString(), resolved.Digest.String(), j.Rules.Violations)
	if len(lines) > 0 {
		addMessage(diags, path.Root("ref"), report.Violations(enforcement, summary, detail))
	}
	return lines
}

// resolveRef parses and resolves a reference, turning failures into
// attribute errors on `at` and a moved tag into a warning.
func resolveRef(ctx context.Context, data *providerData, ref string, at path.Path) (*gate.Resolved, diag.Diagnostics) {
	r, err := gate.Resolve(ctx, data.Registry, ref)
	return r, resolveDiagnostics(at, ref, r, err)
}

// resolveDiagnostics turns a reference's resolution into diagnostics on
// at: its error, or a warning when the tag it names has moved away from the
// digest it pins.
func resolveDiagnostics(at path.Path, ref string, resolved *gate.Resolved, err error) diag.Diagnostics {
	var diags diag.Diagnostics
	if err != nil {
		diags.AddAttributeError(at, gate.RegistrySummary(err), err.Error())
		return diags
	}
	if resolved.TagDigest != "" && resolved.TagDigest != resolved.Digest.String() {
		diags.AddAttributeWarning(at, "Tag has moved; the digest wins",
			fmt.Sprintf("%s: the tag %q now points to %s, but the reference pins %s. imageguard judges and pins %s, as the reference says. "+
				"Update the reference if the new digest is the one you want.",
				ref, resolved.Ref.Tag, resolved.TagDigest, resolved.Digest, resolved.Digest))
	}
	return diags
}

func stringList(ctx context.Context, in []string, diags *diag.Diagnostics) types.List {
	if in == nil {
		in = []string{}
	}
	v, d := types.ListValueFrom(ctx, types.StringType, in)
	diags.Append(d...)
	return v
}

func stringMap(ctx context.Context, in map[string]string, diags *diag.Diagnostics) types.Map {
	if in == nil {
		in = map[string]string{}
	}
	v, d := types.MapValueFrom(ctx, types.StringType, in)
	diags.Append(d...)
	return v
}

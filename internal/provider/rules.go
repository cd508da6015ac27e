package provider

import (
	"context"

	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

// rulesModel holds the hardening rules: the top-level attributes of
// imageguard_policy and the `rules` block of imageguard_image.
type rulesModel struct {
	TrustedRegistries types.List       `tfsdk:"trusted_registries"`
	RequireNonRoot    types.Bool       `tfsdk:"require_non_root"`
	RequiredLabels    types.Map        `tfsdk:"required_labels"`
	ForbiddenPorts    types.List       `tfsdk:"forbidden_ports"`
	AllowedPorts      types.List       `tfsdk:"allowed_ports"`
	ForbiddenPackages types.List       `tfsdk:"forbidden_packages"`
	ForbiddenPaths    types.List       `tfsdk:"forbidden_paths"`
	MaxSize           types.Int64      `tfsdk:"max_size"`
	MaxLayers         types.Int64      `tfsdk:"max_layers"`
	MaxImageAge       types.String     `tfsdk:"max_image_age"`
	AllowedBaseImages types.List       `tfsdk:"allowed_base_images"`
	LayerEncryption   types.String     `tfsdk:"layer_encryption"`
	SecretsInConfig   types.Bool       `tfsdk:"secrets_in_config"`
	Exceptions        []exceptionModel `tfsdk:"exception"`
}

type exceptionModel struct {
	Rule    types.String `tfsdk:"rule"`
	Finding types.String `tfsdk:"finding"`
	Image   types.String `tfsdk:"image"`
	Reason  types.String `tfsdk:"reason"`
	Expires types.String `tfsdk:"expires"`
	Owner   types.String `tfsdk:"owner"`
}

// ruleAttributes is the schema of the rules, shared by the data sources.
func ruleAttributes() map[string]schema.Attribute {
	list := func(desc string) schema.ListAttribute {
		return schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: desc}
	}
	return map[string]schema.Attribute{
		"trusted_registries": list("Allowed `registry/repository` prefixes or globs: `\"registry.example.com/team\"` (a prefix ending at a path boundary), `\"*.example.com/**\"` (`*` within a segment, `**` across)."),
		"require_non_root": schema.BoolAttribute{Optional: true, MarkdownDescription: "The config's `User` must run as a non-zero uid, read as containerd and runc read it: " +
			"`user`, `uid`, `user:group` or `uid:group`, split at `:` and not trimmed; a part is a number when Go's `strconv.Atoi` reads it (so `+0`, `-0` and `00` are uid 0, `\" 1000\"` is a name), and ids must be 0 to 2147483647. " +
			"Fails: no `User`, `root`, uid 0 with any group, an empty user part (`:1000`), and a name that the image's final `/etc/passwd` (layers and whiteouts applied, symlinks followed) maps to uid 0 — including an entry with a missing or non-numeric uid field, which runtimes read as 0. " +
			"Also fails, as imageguard cannot vouch for it (like Kubernetes' `runAsNonRoot` with a non-numeric user): a name with no `/etc/passwd` or no entry, a group name missing from `/etc/group`, an id runtimes refuse (`-1`, `2147483648`), more than one `:`, and Windows account names. " +
			"Only the uid counts: `1000:0` passes (group 0 grants no root privileges by itself). Images are read only when `User` holds a name; `USER 65532:65532` needs no files."},
		"required_labels": schema.MapAttribute{Optional: true, ElementType: types.StringType,
			MarkdownDescription: "Label → RE2 regular expression its value must match, e.g. `{ \"org.opencontainers.image.source\" = \"^https://github\\\\.com/acme/\" }`. Unanchored unless you anchor with `^`/`$`; `\"\"` only requires the label."},
		"forbidden_ports":     list("Exposed ports that fail the rule: `\"22\"` (any protocol), `\"22/tcp\"`, ranges `\"8000-8100\"`."),
		"allowed_ports":       list("When set, every exposed port must match one entry (same syntax)."),
		"forbidden_packages":  list("Installed packages (from the scan's package inventory) that fail the rule, e.g. `[\"apk-tools\", \"bash\", \"openssh-server\"]`; `*` is a wildcard."),
		"forbidden_paths":     list("Paths that must not exist in the final filesystem (whiteouts applied), e.g. `[\"/bin/sh\", \"/usr/bin/nc\"]`. Reads the layers."),
		"max_size":            schema.Int64Attribute{Optional: true, MarkdownDescription: "Largest compressed size in bytes. Unset or 0: off."},
		"max_layers":          schema.Int64Attribute{Optional: true, MarkdownDescription: "Most layers. Unset or 0: off."},
		"max_image_age":       schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Duration()}, MarkdownDescription: "Oldest image by its `created` time, as a Go duration, e.g. `\"720h\"`. A stale image carries stale patches."},
		"allowed_base_images": list("Allowed base images, by the `org.opencontainers.image.base.name` annotation or label (and `@sha256:` for an exact base digest). A missing annotation fails when set."),
		"layer_encryption":    schema.StringAttribute{Optional: true, Validators: []validator.String{validate.OneOf("require", "forbid", "allow")}, MarkdownDescription: "`require`, `forbid` or `allow` (default) ocicrypt layers (`+encrypted` media types)."},
		"secrets_in_config":   schema.BoolAttribute{Optional: true, MarkdownDescription: "Fail on secret-looking env values or build-history commands (Trivy's config secret scanner and well-known token formats)."},
	}
}

func exceptionBlock() schema.ListNestedBlock {
	return schema.ListNestedBlock{
		MarkdownDescription: "An accepted violation of a rule, until `expires`. An expired exception stops applying and warns.",
		NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
			"rule":    schema.StringAttribute{Required: true, MarkdownDescription: "Rule id, e.g. `forbidden_ports`."},
			"finding": schema.StringAttribute{Optional: true, MarkdownDescription: "Only this subject: a port (`\"22\"`), a package, a path, a label, …"},
			"image":   schema.StringAttribute{Optional: true, MarkdownDescription: "Only this image: its name in `images`, its reference, or `registry/repository`."},
			"reason":  schema.StringAttribute{Required: true, MarkdownDescription: "Why it is accepted."},
			"expires": schema.StringAttribute{Required: true, Validators: []validator.String{validate.Date()}, MarkdownDescription: "Last day it applies, `YYYY-MM-DD` (UTC)."},
			"owner":   schema.StringAttribute{Optional: true, MarkdownDescription: "Who to ask when it expires."},
		}},
	}
}

// stringsOf reads a list of strings; elements not known yet (during
// validation) are left out, and checked again at read.
func stringsOf(ctx context.Context, l types.List, diags *diag.Diagnostics) []string {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	var vals []types.String
	diags.Append(l.ElementsAs(ctx, &vals, false)...)
	var out []string
	for _, v := range vals {
		if !v.IsUnknown() && !v.IsNull() {
			out = append(out, v.ValueString())
		}
	}
	return out
}

// stringMapOf reads a map of strings, leaving out unknown values.
func stringMapOf(ctx context.Context, m types.Map, diags *diag.Diagnostics) map[string]string {
	if m.IsNull() || m.IsUnknown() {
		return nil
	}
	var vals map[string]types.String
	diags.Append(m.ElementsAs(ctx, &vals, false)...)
	out := map[string]string{}
	for k, v := range vals {
		if !v.IsUnknown() && !v.IsNull() {
			out[k] = v.ValueString()
		}
	}
	return out
}

// readRules converts and validates the rules; at names an attribute.
func readRules(ctx context.Context, m *rulesModel, at func(string) path.Path) (policy.Rules, diag.Diagnostics) {
	var diags diag.Diagnostics
	var r policy.Rules
	if m == nil {
		return r, diags
	}
	r.TrustedRegistries = stringsOf(ctx, m.TrustedRegistries, &diags)
	r.RequireNonRoot = m.RequireNonRoot.ValueBool()
	r.RequiredLabels = stringMapOf(ctx, m.RequiredLabels, &diags)
	r.ForbiddenPorts = stringsOf(ctx, m.ForbiddenPorts, &diags)
	r.AllowedPorts = stringsOf(ctx, m.AllowedPorts, &diags)
	r.ForbiddenPackages = stringsOf(ctx, m.ForbiddenPackages, &diags)
	r.ForbiddenPaths = stringsOf(ctx, m.ForbiddenPaths, &diags)
	r.MaxSize = m.MaxSize.ValueInt64()
	r.MaxLayers = int(m.MaxLayers.ValueInt64())
	if s := m.MaxImageAge.ValueString(); s != "" {
		r.MaxImageAge, _ = policy.ParseDuration(s) // validate.Duration owns the format
	}
	r.AllowedBaseImages = stringsOf(ctx, m.AllowedBaseImages, &diags)
	r.LayerEncryption = m.LayerEncryption.ValueString()
	r.SecretsInConfig = m.SecretsInConfig.ValueBool()
	for i, e := range m.Exceptions {
		if e.Rule.IsUnknown() || e.Expires.IsUnknown() || e.Reason.IsUnknown() {
			continue
		}
		ex := policy.Exception{Rule: e.Rule.ValueString(), Finding: e.Finding.ValueString(), Image: e.Image.ValueString(), Reason: strings.TrimSpace(e.Reason.ValueString()), Owner: e.Owner.ValueString()}
		ex.Expires, _ = policy.ParseDate(e.Expires.ValueString()) // validate.Date owns the format
		if err := ex.Validate(); err != nil {
			diags.AddAttributeError(at("exception").AtListIndex(i), "Invalid exception", err.Error()+".")
			continue
		}
		r.Exceptions = append(r.Exceptions, ex)
	}
	for _, err := range policy.ValidateRules(r) {
		diags.AddAttributeError(rulePath(at, err.Field), "Invalid rule", err.Error()+".")
	}
	return r, diags
}

// rulePath is the path of the setting a rule error names: an element of
// a list, an entry of a map, or an `exception` block.
func rulePath(at func(string) path.Path, f policy.RuleField) path.Path {
	name := f.Name
	if name == "exceptions" {
		name = "exception"
	}
	p := at(name)
	switch {
	case f.Key != "":
		p = p.AtMapKey(f.Key)
	case f.Index >= 0:
		p = p.AtListIndex(f.Index)
	}
	return p
}

func firstNonEmpty[S ~string](s ...S) S {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// readEnforcement reads an `enforcement` attribute: "error" (the default)
// or "warn".
func readEnforcement(_ context.Context, v types.String, _ path.Path, _ *diag.Diagnostics) report.Enforcement {
	// validate.Enforcement owns the values.
	return report.Enforcement(firstNonEmpty(v.ValueString(), string(report.EnforcementError)))
}

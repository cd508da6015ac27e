package provider

import (
	"cmp"
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
)

type tagsDataSource struct {
	dataSourceConfig
}

func newTagsDataSource() datasource.DataSource { return &tagsDataSource{} }

type tagsModel struct {
	Repository types.String `tfsdk:"repository"`
	Filter     types.String `tfsdk:"filter"`
	Order      types.String `tfsdk:"order"`
	Limit      types.Int64  `tfsdk:"limit"`
	Tags       types.List   `tfsdk:"tags"`
	References types.Map    `tfsdk:"references"`
}

func (d *tagsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_tags"
}

func (d *tagsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists a repository's tags, newest first, and resolves each one kept to a digest-pinned reference. " +
			"With `imageguard_policy` it turns \"rescan the registry\" into a scheduled plan: e.g. the last five release tags of every service still pass. " +
			fmt.Sprintf("The listing follows the registry's `Link` pages (on the same host only) and is bounded: at most %d tags, %d pages and 4 MiB a page; ", gate.MaxTags, gate.MaxTagPages) +
			"past a bound, or on a page link that loops, the plan fails naming the repository, never with a partial list.",
		Attributes: map[string]schema.Attribute{
			"repository": schema.StringAttribute{Required: true, Validators: []validator.String{validate.Repository()},
				MarkdownDescription: "Repository to list, without tag or digest, e.g. `registry.example.com/team/api`; Docker Hub names as docker reads them (`nginx` is `index.docker.io/library/nginx`)."},
			"filter": schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Regexp()},
				MarkdownDescription: "Keep only tags this regular expression (RE2) matches in whole (it is anchored as `^(?:…)$`), " +
					"e.g. `\"v?[0-9]+\\\\.[0-9]+\\\\.[0-9]+\"` for releases. Applied after listing: the registry's API cannot filter. Default: every tag."},
			"order": schema.StringAttribute{Optional: true, Validators: []validator.String{validate.OneOf(gate.OrderSemver, gate.OrderLexical)},
				MarkdownDescription: "`semver` (default): tags that are full semantic versions (`1.4.2`, `v1.4.2`, `2.0.0-rc.1`), newest first by semver precedence " +
					"(a pre-release below its release); other tags (`latest`, the floating alias `1.4`, `main-3f2a`) are left out. " +
					"`lexical`: every tag, by its text in descending order (for date-stamped tags such as `20260301-3f2a`)."},
			"limit": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.AtLeast(1)},
				MarkdownDescription: fmt.Sprintf("Keep the first `limit` tags after ordering, e.g. `5`. Default: all, up to %d (`references` resolves one digest per tag).", gate.MaxTagReferences)},
			"tags": schema.ListAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "The tags kept, newest first."},
			"references": schema.MapAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Each tag kept → the digest-pinned reference it names now, `registry/repository@sha256:…`: " +
					"what to hand to `imageguard_policy`'s `images` or `data \"imageguard_scan\"`. Only these are judged; a tag can move after this read."},
		},
	}
}

func (d *tagsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx = withLogging(ctx)
	var m tagsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	q := gate.TagQuery{Repository: m.Repository.ValueString(), Order: m.Order.ValueString(), Limit: int(m.Limit.ValueInt64())}
	if !m.Filter.IsNull() {
		f := m.Filter.ValueString()
		q.Filter = &f
	}
	ctx, cancel := context.WithTimeout(ctx, d.data.Timeout)
	defer cancel()
	listing, err := gate.Tags(ctx, d.data.Registry, q)
	if err != nil {
		addGateError(&resp.Diagnostics, err, path.Root("repository"), nil)
		return
	}
	refs := make(map[string]string, len(listing.References))
	for tag, d := range listing.References {
		refs[tag] = d.String()
	}
	tflog.Debug(ctx, "tags selected", map[string]any{"repository": listing.Repository.Name(), "listed": listing.Listed, "kept": len(listing.Tags), "order": cmp.Or(q.Order, gate.OrderSemver)})
	m.Tags = stringList(ctx, listing.Tags, &resp.Diagnostics)
	refMap, diags := types.MapValueFrom(ctx, types.StringType, refs)
	resp.Diagnostics.Append(diags...)
	m.References = refMap
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

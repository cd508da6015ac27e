package provider

import (
	"context"
	"fmt"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

const (
	// maxTagReferences bounds `references`: one HEAD request per tag.
	maxTagReferences = 1000
	// tagDigestParallel is how many tags are resolved at once.
	tagDigestParallel = 8
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
			fmt.Sprintf("The listing follows the registry's `Link` pages (on the same host only) and is bounded: at most %d tags, %d pages and 4 MiB a page; ", registry.MaxTags, registry.MaxTagPages) +
			"past a bound, or on a page link that loops, the plan fails naming the repository, never with a partial list.",
		Attributes: map[string]schema.Attribute{
			"repository": schema.StringAttribute{Required: true, Validators: []validator.String{validate.Repository()},
				MarkdownDescription: "Repository to list, without tag or digest, e.g. `registry.example.com/team/api`; Docker Hub names as docker reads them (`nginx` is `index.docker.io/library/nginx`)."},
			"filter": schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Regexp()},
				MarkdownDescription: "Keep only tags this regular expression (RE2) matches in whole (it is anchored as `^(?:…)$`), " +
					"e.g. `\"v?[0-9]+\\\\.[0-9]+\\\\.[0-9]+\"` for releases. Applied after listing: the registry's API cannot filter. Default: every tag."},
			"order": schema.StringAttribute{Optional: true, Validators: []validator.String{validate.OneOf(registry.OrderSemver, registry.OrderLexical)},
				MarkdownDescription: "`semver` (default): tags that are full semantic versions (`1.4.2`, `v1.4.2`, `2.0.0-rc.1`), newest first by semver precedence " +
					"(a pre-release below its release); other tags (`latest`, the floating alias `1.4`, `main-3f2a`) are left out. " +
					"`lexical`: every tag, by its text in descending order (for date-stamped tags such as `20260301-3f2a`)."},
			"limit": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.AtLeast(1)},
				MarkdownDescription: fmt.Sprintf("Keep the first `limit` tags after ordering, e.g. `5`. Default: all, up to %d (`references` resolves one digest per tag).", maxTagReferences)},
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
	repoRef, err := registry.ParseReference(m.Repository.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("repository"), registry.KindOf(err).Summary(), err.Error())
		return
	}
	var filter *regexp.Regexp
	if !m.Filter.IsNull() {
		if filter, err = registry.CompileTagFilter(m.Filter.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("filter"), "Invalid filter", capitalize(err.Error())+".")
			return
		}
	}
	order := firstNonEmpty(m.Order.ValueString(), registry.OrderSemver)
	ctx, cancel := context.WithTimeout(ctx, d.data.Timeout)
	defer cancel()

	repo := repoRef.Repository
	listed, err := d.data.Registry.ListTags(ctx, repo)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("repository"), tagListSummary(err), err.Error())
		return
	}
	kept := registry.SelectTags(listed, filter, order, int(m.Limit.ValueInt64()))
	if len(kept) > maxTagReferences {
		resp.Diagnostics.AddAttributeError(path.Root("limit"), "Too many tags to resolve",
			fmt.Sprintf("%d tags of %s are kept, and `references` resolves at most %d (one request each). Set `limit` (e.g. 5 for the last five releases) or a narrower `filter`.",
				len(kept), repo.Name(), maxTagReferences))
		return
	}
	digests, err := d.data.Registry.TagDigests(ctx, repo, kept, tagDigestParallel)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("repository"), registry.KindOf(err).Summary(), err.Error())
		return
	}
	refs := make(map[string]string, len(kept))
	for i, tag := range kept {
		refs[tag] = repo.Name() + "@" + digests[i]
	}
	tflog.Debug(ctx, "tags selected", map[string]any{"repository": repo.Name(), "listed": len(listed), "kept": len(kept), "order": order})
	m.Tags = stringList(ctx, kept, &resp.Diagnostics)
	refMap, diags := types.MapValueFrom(ctx, types.StringType, refs)
	resp.Diagnostics.Append(diags...)
	m.References = refMap
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func tagListSummary(err error) string {
	if registry.IsTagListBound(err) {
		return "Tag listing stopped at its bound"
	}
	return registry.KindOf(err).Summary()
}

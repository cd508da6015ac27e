package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
)

// The reference functions are offline and pure, as HashiCorp's guidance
// for provider functions asks: they parse the text they are given and never
// ask a registry (data "imageguard_image" does that). Their main use is
// variable validation: "this module only accepts pinned references".

var _ provider.ProviderWithFunctions = (*imageguardProvider)(nil)

// Functions registers the provider functions (Terraform 1.8+, OpenTofu 1.7+).
func (p *imageguardProvider) Functions(context.Context) []func() function.Function {
	return []func() function.Function{
		func() function.Function { return parseReferenceFunction{} },
		func() function.Function { return isPinnedFunction{} },
		func() function.Function { return withDigestFunction{} },
		func() function.Function { return normalizeFunction{} },
	}
}

const refParameterDescription = "An image reference: `registry/repository:tag`, `registry/repository@sha256:<digest>` or both; " +
	"a Docker Hub short name such as `nginx` or `bitnami/redis:7` is read as docker does."

func refParameter() function.StringParameter {
	return function.StringParameter{Name: "ref", MarkdownDescription: refParameterDescription}
}

// parseRef parses the function's argument at position arg, offline.
func parseRef(ctx context.Context, req function.RunRequest, resp *function.RunResponse, arg int, s *string) (gate.Reference, bool) {
	resp.Error = function.ConcatFuncErrors(resp.Error, req.Arguments.GetArgument(ctx, arg, s))
	if resp.Error != nil {
		return gate.Reference{}, false
	}
	ref, err := gate.ParseReference(*s)
	if err != nil {
		resp.Error = function.NewArgumentFuncError(int64(arg), err.Error())
		return gate.Reference{}, false
	}
	return ref, true
}

// parseReferenceFunction is provider::imageguard::parse_reference(ref).
type parseReferenceFunction struct{}

var referenceParts = map[string]attr.Type{
	"registry":   types.StringType,
	"repository": types.StringType,
	"tag":        types.StringType,
	"digest":     types.StringType,
	"pinned":     types.BoolType,
}

func (parseReferenceFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "parse_reference"
}

func (parseReferenceFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "Split an image reference into registry, repository, tag and digest, offline",
		MarkdownDescription: "Parses an image reference without asking any registry and returns an object: " +
			"`registry` (e.g. `registry.example.com:5000`; Docker Hub is `index.docker.io`), " +
			"`repository` (e.g. `team/api`; a Docker Hub short name gets `library/`), " +
			"`tag` (the tag written, `null` if none: no default is filled in here, see `normalize`), " +
			"`digest` (`sha256:…`, `null` if none) and `pinned` (`true` exactly when the reference carries a valid sha256 digest). " +
			"A malformed reference (uppercase repository, malformed digest, empty) is an error that says why.",
		Parameters: []function.Parameter{refParameter()},
		Return:     function.ObjectReturn{AttributeTypes: referenceParts},
	}
}

func (parseReferenceFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var s string
	ref, ok := parseRef(ctx, req, resp, 0, &s)
	if !ok {
		return
	}
	tag, digest := types.StringNull(), types.StringNull()
	if ref.Tag != "" && !ref.DefaultTag {
		tag = types.StringValue(ref.Tag)
	}
	if ref.HasDigest() {
		digest = types.StringValue(ref.Digest.String())
	}
	obj, diags := types.ObjectValue(referenceParts, map[string]attr.Value{
		"registry":   types.StringValue(ref.Registry()),
		"repository": types.StringValue(ref.Repository.RepositoryStr()),
		"tag":        tag,
		"digest":     digest,
		"pinned":     types.BoolValue(ref.HasDigest()),
	})
	resp.Error = function.ConcatFuncErrors(resp.Error, function.FuncErrorFromDiags(ctx, diags))
	if resp.Error == nil {
		resp.Error = resp.Result.Set(ctx, obj)
	}
}

// isPinnedFunction is provider::imageguard::is_pinned(ref).
type isPinnedFunction struct{}

func (isPinnedFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "is_pinned"
}

func (isPinnedFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "Whether an image reference carries a valid sha256 digest, offline",
		MarkdownDescription: "Returns `true` only when the reference parses and carries a valid `@sha256:` digest " +
			"(`sha256:` and 64 lowercase hex characters), with or without a tag. Anything else is `false`, never an error: " +
			"a tag alone, a malformed digest, a malformed or empty reference. Made for `validation` blocks; " +
			"`parse_reference` says why a reference is malformed. It checks the text only: that the digest exists and passes is " +
			"what `data \"imageguard_image\"`, `imageguard_pin` and `action \"imageguard_check\"` find out.",
		Parameters: []function.Parameter{refParameter()},
		Return:     function.BoolReturn{},
	}
}

func (isPinnedFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var s string
	resp.Error = req.Arguments.Get(ctx, &s)
	if resp.Error != nil {
		return
	}
	ref, err := gate.ParseReference(s)
	resp.Error = resp.Result.Set(ctx, err == nil && ref.HasDigest())
}

// withDigestFunction is provider::imageguard::with_digest(ref, digest).
type withDigestFunction struct{}

func (withDigestFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "with_digest"
}

func (withDigestFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "Pin an image reference to a digest, offline",
		MarkdownDescription: "Returns `registry/repository@digest`: the repository of `ref` (Docker Hub names expanded, any tag dropped) " +
			"pinned to `digest`. A malformed `digest` (not `sha256:` and 64 lowercase hex characters) is an error, and so is a `ref` " +
			"that already carries a different digest. It does not ask the registry whether the digest exists there.",
		Parameters: []function.Parameter{
			refParameter(),
			function.StringParameter{Name: "digest", MarkdownDescription: "A sha256 digest, e.g. `sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`."},
		},
		Return: function.StringReturn{},
	}
}

func (withDigestFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var s, digest string
	ref, ok := parseRef(ctx, req, resp, 0, &s)
	if !ok {
		return
	}
	resp.Error = req.Arguments.GetArgument(ctx, 1, &digest)
	if resp.Error != nil {
		return
	}
	h, err := gate.ParseDigest(digest)
	if err != nil {
		resp.Error = function.NewArgumentFuncError(1, fmt.Sprintf("The digest %q for %s is malformed: %v. A digest looks like `sha256:` followed by 64 lowercase hex characters, "+
			"e.g. the `digest` of data \"imageguard_image\".", digest, s, err))
		return
	}
	if ref.HasDigest() && ref.Digest != h {
		resp.Error = function.NewArgumentFuncError(0, fmt.Sprintf("The reference %q already pins %s, not %s. Pass the reference without its digest, or the digest it carries.", s, ref.Digest, digest))
		return
	}
	resp.Error = resp.Result.Set(ctx, ref.Pinned(h).String())
}

// normalizeFunction is provider::imageguard::normalize(ref).
type normalizeFunction struct{}

func (normalizeFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "normalize"
}

func (normalizeFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "The canonical form of an image reference, offline",
		MarkdownDescription: "Returns the reference in full, as imageguard's `pinned` outputs write it: Docker Hub short names expanded " +
			"(`nginx` → `index.docker.io/library/nginx:latest`, `docker.io/bitnami/redis:7` → `index.docker.io/bitnami/redis:7`) and the default tag `latest` " +
			"written out when the reference names neither a tag nor a digest. A digest is kept, with its tag if one was written " +
			"(`ghcr.io/acme/api@sha256:…` gets no tag). Two references that name the same thing normalize to the same string. " +
			"A malformed reference is an error that says why.",
		Parameters: []function.Parameter{refParameter()},
		Return:     function.StringReturn{},
	}
}

func (normalizeFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var s string
	ref, ok := parseRef(ctx, req, resp, 0, &s)
	if !ok {
		return
	}
	resp.Error = resp.Result.Set(ctx, ref.Canonical())
}

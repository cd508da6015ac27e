package gate

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

// The orders a tag listing keeps tags in, and its bounds.
const (
	// OrderSemver keeps full semantic versions only, newest first.
	OrderSemver = registry.OrderSemver
	// OrderLexical keeps every tag, by its text in descending order.
	OrderLexical = registry.OrderLexical
	// MaxTags and MaxTagPages bound a listing (registry.ListTags).
	MaxTags     = registry.MaxTags
	MaxTagPages = registry.MaxTagPages
	// MaxTagReferences bounds the tags one listing resolves: one request
	// per tag.
	MaxTagReferences = 1000
	// tagDigestParallel is how many tags are resolved at once.
	tagDigestParallel = 8
)

// The fields a tag listing's errors name.
const (
	FieldFilter Field = "filter"
	FieldLimit  Field = "limit"
)

// TagQuery selects tags of a repository.
type TagQuery struct {
	// Repository is a repository reference, without tag or digest.
	Repository string
	// Filter is a regular expression a tag must match in full; nil keeps
	// all.
	Filter *string
	// Order is OrderSemver (default) or OrderLexical.
	Order string
	// Limit keeps the first Limit tags after ordering; 0 keeps all.
	Limit int
}

// TagListing is what a tag query found.
type TagListing struct {
	Repository name.Repository
	// Listed is how many tags the registry listed.
	Listed int
	// Tags are the tags kept, newest first.
	Tags []string
	// References are each kept tag's digest-pinned reference now.
	References map[string]name.Digest
}

// Tags lists a repository's tags (bounded, following its pages on the same
// host), keeps those the query selects, and resolves each to the digest it
// names now. Errors are *Error; FieldImage is the repository.
func Tags(ctx context.Context, reg *registry.Client, q TagQuery) (*TagListing, error) {
	ref, err := registry.ParseReference(q.Repository)
	if err != nil {
		return nil, registryError(err)
	}
	var filter *regexp.Regexp
	if q.Filter != nil {
		if filter, err = registry.CompileTagFilter(*q.Filter); err != nil {
			return nil, &Error{Attr: FieldFilter, Summary: "Invalid filter", Detail: capitalize(err.Error()) + ".", Err: err}
		}
	}
	order := q.Order
	if order == "" {
		order = OrderSemver
	}
	repo := ref.Repository
	listed, err := reg.ListTags(ctx, repo)
	if err != nil {
		summary := registry.KindOf(err).Summary()
		if registry.IsTagListBound(err) {
			summary = "Tag listing stopped at its bound"
		}
		return nil, &Error{Summary: summary, Detail: err.Error(), Err: err}
	}
	kept := registry.SelectTags(listed, filter, order, q.Limit)
	if len(kept) > MaxTagReferences {
		return nil, &Error{Attr: FieldLimit, Summary: "Too many tags to resolve",
			Detail: fmt.Sprintf("%d tags of %s are kept, and `references` resolves at most %d (one request each). Set `limit` (e.g. 5 for the last five releases) or a narrower `filter`.",
				len(kept), repo.Name(), MaxTagReferences)}
	}
	digests, err := reg.TagDigests(ctx, repo, kept, tagDigestParallel)
	if err != nil {
		return nil, registryError(err)
	}
	out := &TagListing{Repository: repo, Listed: len(listed), Tags: kept, References: make(map[string]name.Digest, len(kept))}
	for i, tag := range kept {
		out.References[tag] = repo.Digest(digests[i])
	}
	return out, nil
}

// registryError is a registry failure as a gate error about the image (or,
// for a platform the image lacks, about `platforms`).
func registryError(err error) *Error {
	e := &Error{Summary: registry.KindOf(err).Summary(), Detail: err.Error(), Err: err}
	if registry.KindOf(err) == registry.KindPlatform {
		e.Attr = FieldPlatforms
	}
	return e
}

// capitalize starts a sentence made of an error's text.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

package registry

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Reference is a parsed image reference.
type Reference struct {
	// Input is what the user wrote.
	Input string
	// Repository is registry/repository, e.g. "registry.example.com/team/api".
	Repository name.Repository
	// Tag is empty when the reference names only a digest; "latest" when it
	// names neither (DefaultTag is then true).
	Tag string
	// DefaultTag reports that the input named no tag and no digest, so Tag
	// is the default "latest", as docker reads it.
	DefaultTag bool
	// Digest is the zero hash when the reference names only a tag
	// (HasDigest).
	Digest v1.Hash
}

// HasDigest reports whether the reference pins a digest.
func (r Reference) HasDigest() bool { return r.Digest != (v1.Hash{}) }

// Pinned is the reference's repository pinned to d.
func (r Reference) Pinned(d v1.Hash) name.Digest { return r.Repository.Digest(d.String()) }

// Registry is the registry host.
func (r Reference) Registry() string { return r.Repository.RegistryStr() }

// Canonical is the reference in full: registry/repository:tag,
// registry/repository@digest or registry/repository:tag@digest, with Docker
// Hub names expanded (`nginx` is `index.docker.io/library/nginx:latest`, the
// form every `pinned` output uses) and the default tag written out.
func (r Reference) Canonical() string {
	s := r.Repository.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.HasDigest() {
		s += "@" + r.Digest.String()
	}
	return s
}

// ParseReference parses tag, digest and tag@digest references without any
// registry request. A missing tag means "latest", as docker does. The
// digest must be a sha256 digest (`sha256:` and 64 lowercase hex
// characters).
func ParseReference(s string) (Reference, error) {
	return parseReference(s, nil)
}

func parseReference(s string, insecure map[string]bool) (Reference, error) {
	in := strings.TrimSpace(s)
	ref := Reference{Input: s}
	if in == "" {
		return ref, &Error{Kind: KindMalformed, Ref: s, Message: "The image reference is empty. Give a reference such as `registry.example.com/team/api:1.4.2` or `registry.example.com/team/api@sha256:<digest>`."}
	}
	nameOpts := []name.Option{name.WeakValidation}
	head := in
	digest := ""
	if i := strings.Index(in, "@"); i >= 0 {
		head, digest = in[:i], in[i+1:]
		h, err := ParseDigest(digest)
		if err != nil {
			return ref, &Error{Kind: KindMalformed, Ref: s, Message: fmt.Sprintf("The image reference %q has a malformed digest %q: %v. A digest looks like `sha256:` followed by 64 hex characters.", s, digest, err)}
		}
		ref.Digest = h
	}
	if host, err := name.NewRegistry(strings.SplitN(head, "/", 2)[0], name.WeakValidation); err == nil && insecure[host.RegistryStr()] {
		nameOpts = append(nameOpts, name.Insecure)
	}
	var parsed name.Reference
	var err error
	if digest != "" && !strings.Contains(lastPathSegment(head), ":") {
		parsed, err = name.NewDigest(head+"@"+digest, nameOpts...)
	} else {
		parsed, err = name.ParseReference(head, nameOpts...)
	}
	if err != nil {
		return ref, &Error{Kind: KindMalformed, Ref: s, Message: fmt.Sprintf("The image reference %q is malformed: %v. Give `registry/repository:tag`, `registry/repository@sha256:<digest>` or both; repository names are lowercase.", s, err)}
	}
	ref.Repository = parsed.Context()
	if t, ok := parsed.(name.Tag); ok {
		ref.Tag = t.TagStr()
		ref.DefaultTag = digest == "" && !strings.Contains(lastPathSegment(head), ":")
	}
	return ref, nil
}

// ParseDigest accepts exactly a sha256 digest: `sha256:` and 64 lowercase
// hex characters, the only algorithm registries and runtimes pin by.
func ParseDigest(digest string) (v1.Hash, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return v1.Hash{}, err
	}
	if h.Algorithm != "sha256" {
		return v1.Hash{}, fmt.Errorf("algorithm %q is not sha256", h.Algorithm)
	}
	return h, nil
}

func lastPathSegment(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}

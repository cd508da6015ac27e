package validate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/kmsref"
)

// DigestReference accepts a reference that names a digest
// (`registry/repository@sha256:…`, optionally with a tag before the digest);
// a tag alone could name another image by apply or admission time.
func DigestReference() validator.String {
	return stringCheck{"Image is not pinned to a digest", "a digest-pinned image reference, registry/repository@sha256:<digest>", func(s string) error {
		at := strings.LastIndex(s, "@")
		if at < 0 {
			return fmt.Errorf("%q names a tag, which can move: give a digest-pinned reference such as `registry.example.com/team/api@sha256:<digest>`, "+
				"typically a gate's `pinned` output (data.imageguard_scan.x.pinned, imageguard_pin.x.pinned)", s)
		}
		if _, err := v1.NewHash(s[at+1:]); err != nil {
			return fmt.Errorf("%q has a malformed digest: %v", s, err)
		}
		if at == 0 {
			return errors.New("the reference has no repository before its digest")
		}
		return nil
	}}
}

// KMSReference accepts a KMS key in cosign's syntax.
func KMSReference() validator.String {
	return stringCheck{"Unknown KMS reference", "a KMS key reference: " + kmsref.Schemes, kmsref.Check}
}

// ServiceURL accepts an https URL without credentials, e.g. a Fulcio or
// Rekor base URL; plain http only on loopback (127.0.0.0/8, ::1,
// localhost), as scanner_server and registries allow it.
func ServiceURL() validator.String { return serviceURL{} }

type serviceURL struct{}

func (serviceURL) Description(context.Context) string {
	return "an https URL; plain http only on loopback"
}
func (v serviceURL) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (serviceURL) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid URL", "Give an https URL such as https://rekor.sigstore.dev.")
	case u.User != nil:
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid URL", "The URL must not carry credentials: a URL is shown in messages and logs.")
	case u.Scheme == "http" && !gate.IsLoopback(u.Host):
		resp.Diagnostics.AddAttributeError(req.Path, "Plain HTTP refused",
			fmt.Sprintf("%s uses plain HTTP, which is allowed only on loopback (127.0.0.0/8, ::1, localhost): the OIDC token, the signing certificate "+
				"and the transparency log's answers would cross the network unencrypted and could be changed on the way. Serve it over https://.", u.Redacted()))
	}
}

// Repository accepts a repository without tag or digest, e.g.
// `registry.example.com/team/api` or Docker Hub's `nginx`.
func Repository() validator.String {
	return stringCheck{"Invalid repository", "a repository without tag or digest, e.g. registry.example.com/team/api", func(s string) error {
		ref, err := gate.ParseReference(s)
		if err != nil {
			return err
		}
		if !ref.DefaultTag {
			return fmt.Errorf("%q names a tag or digest: give the repository alone, e.g. %s", s, ref.Repository.Name())
		}
		return nil
	}}
}

// Regexp accepts a regular expression in RE2 syntax.
func Regexp() validator.String {
	return stringCheck{"Invalid filter", "a regular expression (RE2 syntax)", func(s string) error {
		_, err := gate.CompileTagFilter(s)
		return err
	}}
}

// ImageReference accepts an image reference as docker reads it: a tag, a
// digest or both, e.g. `registry.example.com/team/api:1.4`.
func ImageReference() validator.String {
	return stringCheck{"Malformed image reference", "an image reference, registry/repository:tag or registry/repository@sha256:<digest>", func(s string) error {
		_, err := gate.ParseReference(s)
		return err
	}}
}

// ExploitSource accepts where exploitation data comes from: a file path
// (absolute, or starting with ./ or ../), an https URL without
// credentials, or an OCI reference.
func ExploitSource() validator.String {
	return stringCheck{"Invalid exploit data source", "a file path, an https URL or an OCI reference", gate.CheckExploitSource}
}

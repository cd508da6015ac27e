package validate

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
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
	return stringCheck{"Unknown KMS reference", "a KMS key reference: hashivault://, awskms://, gcpkms:// or azurekms://", func(s string) error {
		if !attest.KMSSupported(s) {
			return fmt.Errorf("%q is not a KMS reference cosign knows: use hashivault://<key>, awskms://…, gcpkms://… or azurekms://…", s)
		}
		return nil
	}}
}

// ServiceURL accepts an http(s) URL without credentials, e.g. a Fulcio or
// Rekor base URL.
func ServiceURL() validator.String {
	return stringCheck{"Invalid URL", "an http(s) URL", func(s string) error {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errors.New("give an http(s) URL such as https://rekor.sigstore.dev")
		}
		if u.User != nil {
			return errors.New("the URL must not carry credentials")
		}
		return nil
	}}
}

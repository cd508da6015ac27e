// Package kmsref is the one place that knows which KMS key references
// imageguard accepts: cosign's syntax, as sigstore's KMS registry knows
// them. Importing it registers the providers (awskms://, azurekms://,
// gcpkms://, hashivault://), as cosign's CLI does; they touch no network
// until a key is used.
package kmsref

import (
	"fmt"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature/kms"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
)

// Schemes are the URI schemes a KMS key reference may start with, as
// written in messages and docs.
const Schemes = "hashivault://<key>, awskms://…, gcpkms://… or azurekms://…"

// Supported reports whether ref names a KMS key in a scheme sigstore's
// registry knows.
func Supported(ref string) bool {
	for _, p := range kms.SupportedProviders() {
		if strings.HasPrefix(ref, p) {
			return true
		}
	}
	return false
}

// Check is Supported as an error that says what to use instead.
func Check(ref string) error {
	if !Supported(ref) {
		return fmt.Errorf("%q is not a KMS reference cosign knows: use %s", ref, Schemes)
	}
	return nil
}

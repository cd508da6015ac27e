package attest

// The KMS providers register their URI schemes (awskms://, azurekms://,
// gcpkms://, hashivault://) with sigstore's KMS registry when imported, as
// cosign's own binary does.
import (
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
)

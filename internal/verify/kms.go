package verify

// The KMS providers register their URI schemes (awskms://, azurekms://,
// gcpkms://, hashivault://) with sigstore's KMS registry when imported, as
// cosign's CLI does. They touch no network until a key is used.
import (
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
)

package provider

import (
	"fmt"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
)

// The signer blocks of imageguard_attestation, as plain signer options.

// signerOptions reads the signer block, and the environment variables it names.
func signerOptions(m *attestationResourceModel, s attestationSettings) (gate.SignerOptions, diag.Diagnostics) {
	var diags diag.Diagnostics
	o := gate.SignerOptions{TLogUpload: s.TLogUpload, RekorURL: s.RekorURL}
	fromEnv := func(at path.Path, name string) string {
		v := os.Getenv(name)
		if v == "" {
			diags.AddAttributeError(at, "Environment variable not set", fmt.Sprintf("%s is empty or not set: nothing was signed. Set it in the environment terraform applies in.", name))
		}
		return v
	}
	switch {
	case m.Key != nil:
		pemText := keyPEM(m.Key)
		if name := m.Key.PrivateKeyEnv.ValueString(); name != "" {
			pemText = fromEnv(path.Root("key").AtName("private_key_env"), name)
		}
		o.PrivateKeyPEM = []byte(pemText)
		o.Password = keyPassword(m.Key)
	case m.KMS != nil:
		o.KMSRef = m.KMS.URI.ValueString()
	case m.Keyless != nil:
		token := m.Keyless.OIDCToken.ValueString()
		if !m.Keyless.OIDCTokenWO.IsNull() {
			token = m.Keyless.OIDCTokenWO.ValueString()
		}
		if name := m.Keyless.OIDCTokenEnv.ValueString(); name != "" {
			token = fromEnv(path.Root("keyless").AtName("oidc_token_env"), name)
		}
		o.Keyless = &gate.KeylessSigner{FulcioURL: m.Keyless.FulcioURL.ValueString(), IDToken: token}
	default:
		diags.AddError("No signer", "Give one of the `key`, `kms` and `keyless` blocks.")
	}
	return o, diags
}

// keyPEM is the key's PEM text: the write-only attribute, else the stored
// one (private_key_env is read at apply, in signerOptions).
func keyPEM(k *signingKeyModel) string {
	if !k.PrivateKeyPEMWO.IsNull() {
		return k.PrivateKeyPEMWO.ValueString()
	}
	return k.PrivateKeyPEM.ValueString()
}

// keyPEMKnown reports whether the key's PEM is in the configuration and
// known at plan.
func keyPEMKnown(k *signingKeyModel) bool {
	if !k.PrivateKeyPEMWO.IsNull() {
		return !k.PrivateKeyPEMWO.IsUnknown()
	}
	return !k.PrivateKeyPEM.IsNull() && !k.PrivateKeyPEM.IsUnknown()
}

// keyPassword is the key's password: the write-only attribute, else the
// stored one, else COSIGN_PASSWORD as cosign reads it.
func keyPassword(k *signingKeyModel) []byte {
	switch {
	case !k.PasswordWO.IsNull():
		return []byte(k.PasswordWO.ValueString())
	case !k.Password.IsNull():
		return []byte(k.Password.ValueString())
	}
	return []byte(os.Getenv("COSIGN_PASSWORD"))
}

// warnMissingSecrets warns at plan when an environment variable that apply
// reads is not set here (plan and apply may run in different jobs).
func (r *attestationResource) warnMissingSecrets(diags *diag.Diagnostics, m *attestationResourceModel) {
	check := func(at path.Path, v types.String) {
		if name := v.ValueString(); name != "" && os.Getenv(name) == "" {
			diags.AddAttributeWarning(at, "Environment variable not set", fmt.Sprintf("%s is not set in this environment; apply reads it to sign, and fails without it.", name))
		}
	}
	if m.Key != nil {
		check(path.Root("key").AtName("private_key_env"), m.Key.PrivateKeyEnv)
	}
	if m.Keyless != nil {
		check(path.Root("keyless").AtName("oidc_token_env"), m.Keyless.OIDCTokenEnv)
	}
}

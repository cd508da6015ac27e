package provider

import (
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
)

// The `notation` authority: Notary Project signatures, shared by every
// `authority` block (imageguard_verify, and the verify blocks of
// imageguard_pin, imageguard_attestation, imageguard_policy and
// imageguard_check).

type notationModel struct {
	CertificatesPEM    types.String `tfsdk:"certificates_pem"`
	TrustStoreType     types.String `tfsdk:"trust_store_type"`
	TrustedIdentities  types.List   `tfsdk:"trusted_identities"`
	TSACertificatesPEM types.String `tfsdk:"tsa_certificates_pem"`
	Revocation         types.String `tfsdk:"revocation"`
}

// unknown reports whether the block depends on values not known yet.
func (n notationModel) unknown() bool {
	if n.CertificatesPEM.IsUnknown() || n.TrustStoreType.IsUnknown() || n.TrustedIdentities.IsUnknown() || n.TSACertificatesPEM.IsUnknown() || n.Revocation.IsUnknown() {
		return true
	}
	for _, e := range n.TrustedIdentities.Elements() {
		if e.IsUnknown() {
			return true
		}
	}
	return false
}

// Defaults of the block's optional attributes.
const (
	defaultTrustStoreType = "ca"
	defaultRevocation     = "enforce"
)

// notationAuthority converts the block; gate.ValidateAuthority checks
// what the schema's validators cannot (PEM, certificates, trust policy).
func readNotation(n notationModel) *gate.NotationAuthority {
	out := &gate.NotationAuthority{
		CertificatesPEM: n.CertificatesPEM.ValueString(), TrustStoreType: n.TrustStoreType.ValueString(),
		TSACertificatesPEM: n.TSACertificatesPEM.ValueString(), Revocation: n.Revocation.ValueString(),
	}
	if out.TrustStoreType == "" {
		out.TrustStoreType = defaultTrustStoreType
	}
	if out.Revocation == "" {
		out.Revocation = defaultRevocation
	}
	// Element by element: during validation an entry may be unknown (a
	// variable); the authority's checks then wait for the read.
	for _, e := range n.TrustedIdentities.Elements() {
		if s, ok := e.(types.String); ok && !s.IsUnknown() && !s.IsNull() {
			out.TrustedIdentities = append(out.TrustedIdentities, s.ValueString())
		}
	}
	return out
}

const (
	notationBlockDescription = "Trust Notary Project signatures (`notation sign`, Azure Key Vault, your own CA) instead of cosign's: a Notary Project trust policy " +
		"of level `strict` built from this block, verified in process by notation-go, JWS and COSE envelopes alike. Signatures are found as OCI referrers of " +
		"artifact type `application/vnd.cncf.notary.signature` (the referrers API, or the `sha256-<digest>` tag notation writes on registries without it), " +
		"read with the provider's `registry` credentials; at most 100 per digest are examined (more is an error), and one made for another digest never counts. " +
		"Signatures that name a verification plugin (AWS Signer's) are refused: the AWS Signer plugin's Go module is not served by the Go module proxy, so it cannot be linked in. " +
		"A `notation` authority verifies image signatures only, no `attestation` blocks."
	certificatesPEMDescription = "Trust anchors in PEM: the root (or intermediate) CA certificates that issued the signing certificates (`trust_store_type = \"ca\"`), " +
		"or signing-authority certificates (`\"signingAuthority\"`), e.g. `file(\"acme-signing-ca.pem\")`. Each must be a CA or a self-signed certificate."
	trustStoreTypeDescription = "`ca` (default: signatures of the `notary.x509` scheme, what `notation sign` and Azure Key Vault make) or `signingAuthority` " +
		"(the `notary.x509.signingAuthority` scheme)."
	trustedIdentitiesDescription = "Signers trusted, pinned by certificate subject: `x509.subject: C=US, ST=WA, O=acme, CN=release` matches a signing certificate whose subject " +
		"holds all of these attributes. Required: `[\"*\"]` (every signer under the trust store, as Kyverno does by default) only when written explicitly, and alone. " +
		"Every verified signature reports its signer's subject in `notation_signatures`."
	tsaCertificatesPEMDescription = "RFC 3161 timestamp authority root certificates in PEM, e.g. `file(\"tsa-root.pem\")`. With them every signature must carry a timestamp " +
		"they vouch for (`notation sign --timestamp-url`), and a signing certificate that expired after the timestamp still verifies; without them the certificate must be valid now."
	revocationDescription = "OCSP / CRL checks of the signing and timestamping certificates: `enforce` (default: a revoked certificate, or one whose status no server " +
		"answers, fails the signature), `log` (a status nobody answers passes, with the reason in `notation_signatures`; a revoked certificate still fails) or `skip`. " +
		"Offline plans need `log` or `skip`: `enforce` fails closed when the servers the certificates name cannot be reached."
)

// notationDataSourceBlock is the `notation` block of a data source's
// `authority`.
func notationDataSourceBlock() dsschema.Block {
	s := func(desc string, required bool, v ...validator.String) dsschema.StringAttribute {
		return dsschema.StringAttribute{Required: required, Optional: !required, Validators: v, MarkdownDescription: desc}
	}
	return dsschema.ListNestedBlock{
		MarkdownDescription: notationBlockDescription,
		Validators:          []validator.List{listvalidator.SizeAtMost(1)},
		NestedObject: dsschema.NestedBlockObject{Attributes: map[string]dsschema.Attribute{
			"certificates_pem":     s(certificatesPEMDescription, true),
			"trust_store_type":     s(trustStoreTypeDescription, false, validate.OneOf("ca", "signingAuthority")),
			"trusted_identities":   dsschema.ListAttribute{Required: true, ElementType: types.StringType, Validators: identitiesValidators(), MarkdownDescription: trustedIdentitiesDescription},
			"tsa_certificates_pem": s(tsaCertificatesPEMDescription, false),
			"revocation":           s(revocationDescription, false, validate.OneOf("enforce", "log", "skip")),
		}},
	}
}

// notationResourceBlock is the same block for imageguard_pin's and
// imageguard_attestation's `verify` (and, converted, imageguard_check's).
func notationResourceBlock() schema.Block {
	s := func(desc string, required bool, v ...validator.String) schema.StringAttribute {
		return schema.StringAttribute{Required: required, Optional: !required, Validators: v, MarkdownDescription: desc}
	}
	return schema.ListNestedBlock{
		MarkdownDescription: notationBlockDescription,
		Validators:          []validator.List{listvalidator.SizeAtMost(1)},
		NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
			"certificates_pem":     s(certificatesPEMDescription, true),
			"trust_store_type":     s(trustStoreTypeDescription, false, validate.OneOf("ca", "signingAuthority")),
			"trusted_identities":   schema.ListAttribute{Required: true, ElementType: types.StringType, Validators: identitiesValidators(), MarkdownDescription: trustedIdentitiesDescription},
			"tsa_certificates_pem": s(tsaCertificatesPEMDescription, false),
			"revocation":           s(revocationDescription, false, validate.OneOf("enforce", "log", "skip")),
		}},
	}
}

func identitiesValidators() []validator.List {
	return []validator.List{listvalidator.SizeAtLeast(1), listvalidator.UniqueValues(), listvalidator.ValueStringsAre(validate.NotationIdentity())}
}

// keyValidators make an authority's `key` one public key or one KMS key.
func keyValidators() []validator.Object {
	return []validator.Object{validate.ExactlyOneAttribute("public_key_pem", "kms")}
}

// keylessValidators make a `keyless` identity one issuer and one subject,
// each exact or a pattern, as cosign requires.
func keylessValidators() []validator.Object {
	return []validator.Object{validate.ExactlyOneAttribute("issuer", "issuer_regexp"), validate.ExactlyOneAttribute("subject", "subject_regexp")}
}

// authorityValidators make an `authority` hold exactly one kind.
func authorityValidators() []validator.Object {
	return []validator.Object{validate.ExactlyOneBlock("key", "keyless", "notation")}
}

// notationOutputs are imageguard_verify's outputs about Notary Project
// signatures (embedded in verifyModel).
type notationOutputs struct {
	NotationSignatures []notationSignatureModel `tfsdk:"notation_signatures"`
}

type notationSignatureModel struct {
	Authority          types.String `tfsdk:"authority"`
	Format             types.String `tfsdk:"format"`
	Subject            types.String `tfsdk:"subject"`
	Issuer             types.String `tfsdk:"issuer"`
	CertificateSHA256  types.String `tfsdk:"certificate_sha256"`
	SigningScheme      types.String `tfsdk:"signing_scheme"`
	SigningTime        types.String `tfsdk:"signing_time"`
	TimestampAuthority types.String `tfsdk:"timestamp_authority"`
	TimestampTime      types.String `tfsdk:"timestamp_time"`
	Revocation         types.String `tfsdk:"revocation"`
	Location           types.String `tfsdk:"location"`
	SignatureDigest    types.String `tfsdk:"signature_digest"`
}

func notationSignaturesAttribute() dsschema.ListNestedAttribute {
	return computedObjectList("Each verified Notary Project signature (`notation` authorities), in authority order.", map[string]dsschema.Attribute{
		"authority":           cstr("Authority it verified for."),
		"format":              cstr("Envelope: `jws` or `cose`."),
		"subject":             cstr("The signing certificate's subject, e.g. `CN=release,O=acme,ST=WA,C=US`: who signed."),
		"issuer":              cstr("The signing certificate's issuer."),
		"certificate_sha256":  cstr("SHA-256 fingerprint of the signing certificate (hex)."),
		"signing_scheme":      cstr("`notary.x509` or `notary.x509.signingAuthority`."),
		"signing_time":        cstr("Signing time the signature states, RFC 3339 (authentic for the signing-authority scheme; otherwise see `timestamp_time`)."),
		"timestamp_authority": cstr("Subject of the RFC 3161 timestamp authority whose timestamp verified against `tsa_certificates_pem`; null when none was checked."),
		"timestamp_time":      cstr("The verified timestamp, RFC 3339; null when none was checked."),
		"revocation":          cstr("What the revocation check found: `good` (or no revocation information in the certificates), `skipped`, or the status that could not be established, when `revocation = \"log\"`."),
		"location":            cstr("Where it was found: `referrers API` or `referrers tag sha256-…`."),
		"signature_digest":    cstr("Digest of the signature manifest."),
	})
}

// notationSignaturesOf lists the verified Notary Project signatures.
func notationSignaturesOf(results []gate.AuthorityResult) []notationSignatureModel {
	out := []notationSignatureModel{}
	timeOrNull := func(t time.Time) types.String {
		if t.IsZero() {
			return types.StringNull()
		}
		return types.StringValue(t.UTC().Format(time.RFC3339))
	}
	strOrNull := func(s string) types.String {
		if s == "" {
			return types.StringNull()
		}
		return types.StringValue(s)
	}
	for _, a := range results {
		for _, s := range a.Signatures {
			n := s.Notation
			if n == nil {
				continue
			}
			out = append(out, notationSignatureModel{
				Authority: types.StringValue(s.Authority), Format: types.StringValue(n.Envelope), Subject: types.StringValue(s.Subject),
				Issuer: types.StringValue(s.Issuer), CertificateSHA256: types.StringValue(s.KeyID), SigningScheme: types.StringValue(n.SigningScheme),
				SigningTime: timeOrNull(n.SigningTime), TimestampAuthority: strOrNull(n.TimestampAuthority), TimestampTime: timeOrNull(n.TimestampTime),
				Revocation: types.StringValue(n.Revocation), Location: types.StringValue(s.Location), SignatureDigest: types.StringValue(n.ManifestDigest),
			})
		}
	}
	return out
}

// notationPath is the `notation` block of authority i.
func notationPath(authority path.Path) path.Path { return authority.AtName("notation").AtListIndex(0) }

// checkNotation reports what the schema's validators cannot see in a
// notation block (PEM, certificates, the trust policy) at the attribute it
// concerns. A block whose shape they refuse (identities, enumerations) is
// theirs to report, once.
func checkNotation(diags *diag.Diagnostics, authority path.Path, a gate.Authority) {
	n, at := a.Notation, notationPath(authority)
	shapeOK := len(n.TrustedIdentities) > 0
	for _, id := range n.TrustedIdentities {
		shapeOK = shapeOK && validate.CheckNotationIdentity(id) == nil
	}
	shapeOK = shapeOK && validNotationEnum("trust_store_type", n.TrustStoreType) && validNotationEnum("revocation", n.Revocation)
	if !shapeOK {
		return
	}
	if err := gate.ValidateAuthority(a); err != nil {
		attr := at
		for _, name := range []string{"tsa_certificates_pem", "certificates_pem", "trusted_identities"} {
			if strings.Contains(err.Error(), name) {
				attr = at.AtName(name)
				break
			}
		}
		diags.AddAttributeError(attr, "Invalid notation authority", err.Error()+".")
	}
}

func validNotationEnum(attr, value string) bool {
	switch attr {
	case "trust_store_type":
		return value == "ca" || value == "signingAuthority"
	case "revocation":
		return value == "enforce" || value == "log" || value == "skip"
	}
	return false
}

package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
)

// attestationSchemaVersion is the version of imageguard_attestation's state.
// Version 1 (this release) added `unknown_severity` and `exploited` to the
// scan block, `require_signature`, `provenance` and the `notation`
// authority to the verify block, and the write-only signer attributes with
// their `…_wo_version`s: all optional, null in older state
// (TestAttestationStateWithoutWriteOnlyAttributes, and the e2e
// TestAttestationStateUpgrade from the predecessor's version 0).
const attestationSchemaVersion = 1

// UpgradeState carries older states over: version 0 lacks only optional
// attributes added since, which read as null (their defaults).
func (r *attestationResource) UpgradeState(context.Context) map[int64]resource.StateUpgrader {
	return map[int64]resource.StateUpgrader{0: {StateUpgrader: passThroughState}}
}

// Public-good Sigstore, cosign's defaults (also in internal/attest).
const (
	defaultFulcioURL = "https://fulcio.sigstore.dev"
	defaultRekorURL  = "https://rekor.sigstore.dev"
)

// verdictAttrTypes is the `verdict` summary's object type.
var verdictAttrTypes = map[string]attr.Type{
	"result":     types.StringType,
	"db_version": types.StringType,
	"findings":   types.MapType{ElemType: types.Int64Type},
	"ignored":    types.Int64Type,
	"violations": types.Int64Type,
}

func (r *attestationResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	opt := func(desc string, v ...validator.String) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, Validators: v, MarkdownDescription: desc}
	}
	secret := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: desc}
	}
	writeOnly := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, Sensitive: true, WriteOnly: true, MarkdownDescription: desc}
	}
	woVersion := func(of string) schema.Int64Attribute {
		return schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.AlsoRequires(path.MatchRelative().AtParent().AtName(of))},
			MarkdownDescription: "Version of `" + of + "`, kept in state, e.g. `1`: a change signs a new attestation with the new secret. " +
				"Needs `" + of + "`."}
	}
	resp.Schema = schema.Schema{
		Version: attestationSchemaVersion,
		MarkdownDescription: "Signs what the plan judged and attaches it to the image, for admission controllers (Kyverno `verifyImages`, Sigstore " +
			"policy-controller, Ratify) and auditors. The plan judges `image` with the `scan`, `verify` and `policy` blocks, as `imageguard_pin` " +
			"does: a failing gate fails the plan and nothing is signed. Apply signs two in-toto attestations over the digest — the cosign " +
			"vulnerability predicate (`https://cosign.sigstore.dev/attestation/vuln/v1`, the layout `trivy --format cosign-vuln` writes) and " +
			"imageguard's verdict (`https://imageguard.dev/verdict/v1`: gates, settings, findings, ignores and exceptions with reasons and expiry, " +
			"database, provider version, time) — as Sigstore bundles, and attaches them as OCI referrers as `cosign attest` v3 does (the referrers " +
			"API, or the `sha256-<digest>` referrers tag on registries without it), so `cosign verify-attestation` and `imageguard_verify` find them. " +
			"Every later plan judges the attested digest again and fails when it no longer passes (a CVE published since); `renew_after` proposes " +
			"a fresh attestation when the last is older. Destroy leaves the attestations in the registry unless `delete_on_destroy = true`. " +
			"Exactly one signer: `key`, `kms` or `keyless`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "`registry/repository@digest` of the attested image.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"image": schema.StringAttribute{Required: true, Validators: []validator.String{validate.DigestReference()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				MarkdownDescription: "Digest-pinned reference to judge and attest, e.g. `registry.example.com/team/api@sha256:…`, typically a gate's " +
					"`pinned` output. A tag is an error: it may name another image by the time the attestation is read. Changing it replaces the resource."},
			"platforms": schema.ListAttribute{Optional: true, ElementType: types.StringType,
				Validators:          []validator.List{listvalidator.SizeAtLeast(1), listvalidator.ValueStringsAre(validate.Platform())},
				MarkdownDescription: "Platforms of a multi-platform index to judge, e.g. `[\"linux/amd64\"]`. Default: all. The attestations are attached to `image`'s digest and cover the platforms judged."},
			"tlog_upload": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
				MarkdownDescription: "Record each signature in the Rekor transparency log at `rekor_url`, as cosign's `--tlog-upload` (default `true`). " +
					"`false` suits a private setup without Rekor (verifiers then need `tlog = \"optional\"`); keyless signing requires `true`."},
			"rekor_url": opt("Rekor base URL, `https://`; plain `http://` only on loopback (127.0.0.0/8, `::1`, `localhost`). Default `"+defaultRekorURL+"`.", validate.ServiceURL()),
			"renew_after": opt("Age after which a plan proposes a fresh attestation (in-place update), as a Go duration, e.g. `72h`; keep it below the "+
				"`max_age` your admission policy requires. Default: never. The digest is judged again on every plan either way.", validate.Duration()),
			"delete_on_destroy": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "Delete the attestations (and their entries in the referrers tag) on destroy. Default `false`: destroy leaves them in the registry for audit."},
			"digest":              computed("The digest attested."),
			"attestation_digests": schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Digests of the referrer manifests holding the attestations, in the order of `predicate_types`. Known after apply when the plan signs."},
			"predicate_types":     schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Predicate types attested: the cosign vulnerability predicate, then imageguard's verdict."},
			"location":            computed("Where the attestations are: `referrers API`, or `referrers tag sha256-<digest>` on a registry without the API."),
			"signed_at":           computed("When the attestations were signed, RFC 3339; `renew_after` counts from it. Known after apply when the plan signs."),
			"verdict": schema.SingleNestedAttribute{Computed: true, MarkdownDescription: "Summary of the signed verdict (null after import). Known after apply when the plan signs.",
				Attributes: map[string]schema.Attribute{
					"result":     computed("`passed`, or `passed-with-warnings` when a gate under `enforcement = \"warn\"` let violations pass."),
					"db_version": computed("Vulnerability database judged against: `<schema version>@<UpdatedAt>`."),
					"findings":   schema.MapAttribute{Computed: true, ElementType: types.Int64Type, MarkdownDescription: "Findings per severity, before ignores."},
					"ignored":    schema.Int64Attribute{Computed: true, MarkdownDescription: "Findings not counted (ignores, `ignore_unfixed`, VEX)."},
					"violations": schema.Int64Attribute{Computed: true, MarkdownDescription: "Violations let pass under `enforcement = \"warn\"`."},
				}},
		},
		Blocks: map[string]schema.Block{
			"scan":   pinScanBlock(),
			"verify": pinVerifyBlock(),
			"policy": pinPolicyBlock(),
			"key": schema.SingleNestedBlock{
				MarkdownDescription: "Sign with a private key: cosign's (`cosign generate-key-pair`, `ENCRYPTED SIGSTORE PRIVATE KEY`) or an unencrypted " +
					"PKCS #8, EC or RSA key. Terraform keeps arguments in state (marked sensitive): to keep the key out of state, give " +
					"`private_key_pem_wo` and `password_wo` (write-only, Terraform and OpenTofu 1.11 and later), or on older CLIs `private_key_env` " +
					"and leave `password` unset (then `COSIGN_PASSWORD` is read, as cosign does), or use `kms`.",
				Attributes: map[string]schema.Attribute{
					"private_key_pem": secret("The private key in PEM, e.g. `file(\"cosign.key\")`; kept in state. Exactly one of `private_key_pem`, `private_key_pem_wo` and `private_key_env`."),
					"private_key_pem_wo": writeOnly("The private key in PEM, write-only: never stored in plan or state (Terraform and OpenTofu 1.11 and later), e.g. " +
						"`ephemeral.vault_kv_secret_v2.cosign.data[\"key\"]`. Give `private_key_pem_wo_version` too, and change it when the key changes: " +
						"Terraform cannot see a write-only value change, so the version is what signs anew."),
					"private_key_pem_wo_version": woVersion("private_key_pem_wo"),
					"private_key_env":            opt("Name of an environment variable holding the PEM key at apply, e.g. `COSIGN_PRIVATE_KEY` (cosign's `env://`)."),
					"password":                   secret("Password of a cosign key; kept in state. Default: the `COSIGN_PASSWORD` environment variable, else empty. At most one of `password` and `password_wo`."),
					"password_wo": writeOnly("Password of a cosign key, write-only: never stored in plan or state (Terraform and OpenTofu 1.11 and later). " +
						"Give `password_wo_version` too, and change it when the password changes."),
					"password_wo_version": woVersion("password_wo"),
				},
			},
			"kms": schema.SingleNestedBlock{
				MarkdownDescription: "Sign with a KMS key; credentials come from the KMS's usual environment (`VAULT_ADDR`/`VAULT_TOKEN`, `AWS_*`, `GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_*`).",
				Attributes: map[string]schema.Attribute{
					"uri": opt("KMS key in cosign's syntax: `hashivault://<key>`, `awskms:///<arn or alias>`, `gcpkms://projects/…/cryptoKeyVersions/1`, `azurekms://<vault>.vault.azure.net/<key>`.", validate.KMSReference()),
				},
			},
			"keyless": schema.SingleNestedBlock{
				MarkdownDescription: "Sign keyless: a short-lived Fulcio certificate for the identity of an OIDC token (e.g. a CI job's), logged in Rekor (`tlog_upload` must stay `true`).",
				Attributes: map[string]schema.Attribute{
					"fulcio_url": opt("Fulcio base URL, `https://`; plain `http://` only on loopback (127.0.0.0/8, `::1`, `localhost`). Default `"+defaultFulcioURL+"`.", validate.ServiceURL()),
					"oidc_token": secret("OIDC identity token (audience `sigstore`); kept in state. Exactly one of `oidc_token`, `oidc_token_wo` and `oidc_token_env`; " +
						"prefer `oidc_token_wo` or the variable."),
					"oidc_token_wo": writeOnly("OIDC identity token (audience `sigstore`), write-only: never stored in plan or state (Terraform and OpenTofu 1.11 and later). " +
						"Give `oidc_token_wo_version` too, and change it to sign with a new token."),
					"oidc_token_wo_version": woVersion("oidc_token_wo"),
					"oidc_token_env":        opt("Name of an environment variable holding the OIDC token at apply, e.g. `SIGSTORE_ID_TOKEN`."),
				},
			},
		},
	}
}

// ConfigValidators require exactly one signer, and a write-only secret
// instead of (not beside) its stored or environment form.
func (r *attestationResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.ExactlyOneOf(path.MatchRoot("key"), path.MatchRoot("kms"), path.MatchRoot("keyless")),
		resourcevalidator.Conflicting(path.MatchRoot("key").AtName("private_key_pem_wo"), path.MatchRoot("key").AtName("private_key_pem")),
		resourcevalidator.Conflicting(path.MatchRoot("key").AtName("private_key_pem_wo"), path.MatchRoot("key").AtName("private_key_env")),
		resourcevalidator.Conflicting(path.MatchRoot("key").AtName("password_wo"), path.MatchRoot("key").AtName("password")),
		resourcevalidator.Conflicting(path.MatchRoot("keyless").AtName("oidc_token_wo"), path.MatchRoot("keyless").AtName("oidc_token")),
		resourcevalidator.Conflicting(path.MatchRoot("keyless").AtName("oidc_token_wo"), path.MatchRoot("keyless").AtName("oidc_token_env")),
	}
}

package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

type verifyDataSource struct {
	dataSourceConfig
}

func newVerifyDataSource() datasource.DataSource { return &verifyDataSource{} }

type verifyModel struct {
	Image           types.String        `tfsdk:"image"`
	Platforms       types.List          `tfsdk:"platforms"`
	Require         types.String        `tfsdk:"require"`
	TrustedRootJSON types.String        `tfsdk:"trusted_root_json"`
	TLog            types.String        `tfsdk:"tlog"`
	Enforcement     types.String        `tfsdk:"enforcement"`
	Authorities     []authorityModel    `tfsdk:"authority"`
	AttestationReqs []attestationModel  `tfsdk:"attestation"`
	Pinned          types.String        `tfsdk:"pinned"`
	Digest          types.String        `tfsdk:"digest"`
	Passed          types.Bool          `tfsdk:"passed"`
	Signatures      []signatureModel    `tfsdk:"signatures"`
	Attestations    []attestationOutput `tfsdk:"attestations"`
	Violations      []violationModel    `tfsdk:"violations"`
	notationOutputs

	// RequireSignature, Provenance, ProvenanceFacts: provenance_schema.go.
	RequireSignature types.Bool             `tfsdk:"require_signature"`
	Provenance       *provenanceModel       `tfsdk:"provenance"`
	ProvenanceFacts  []provenanceFactsModel `tfsdk:"provenance_facts"`
}

type authorityModel struct {
	Name     types.String    `tfsdk:"name"`
	Key      []keyModel      `tfsdk:"key"`
	Keyless  []keylessModel  `tfsdk:"keyless"`
	Notation []notationModel `tfsdk:"notation"`
}

type keyModel struct {
	PublicKeyPEM types.String `tfsdk:"public_key_pem"`
	KMS          types.String `tfsdk:"kms"`
}

type keylessModel struct {
	Issuer                   types.String `tfsdk:"issuer"`
	IssuerRegexp             types.String `tfsdk:"issuer_regexp"`
	Subject                  types.String `tfsdk:"subject"`
	SubjectRegexp            types.String `tfsdk:"subject_regexp"`
	GitHubWorkflowRepository types.String `tfsdk:"github_workflow_repository"`
	GitHubWorkflowRef        types.String `tfsdk:"github_workflow_ref"`
	GitHubWorkflowTrigger    types.String `tfsdk:"github_workflow_trigger"`
	GitHubWorkflowSHA        types.String `tfsdk:"github_workflow_sha"`
	GitHubWorkflowName       types.String `tfsdk:"github_workflow_name"`
}

type attestationModel struct {
	PredicateType types.String `tfsdk:"predicate_type"`
	Condition     types.String `tfsdk:"condition"`
	MaxAge        types.String `tfsdk:"max_age"`
}

type signatureModel struct {
	Authority      types.String `tfsdk:"authority"`
	Issuer         types.String `tfsdk:"issuer"`
	Subject        types.String `tfsdk:"subject"`
	KeyID          types.String `tfsdk:"key_id"`
	Format         types.String `tfsdk:"format"`
	Location       types.String `tfsdk:"location"`
	IntegratedTime types.String `tfsdk:"integrated_time"`
	TLogIndex      types.Int64  `tfsdk:"tlog_index"`
}

type attestationOutput struct {
	PredicateType types.String `tfsdk:"predicate_type"`
	Authority     types.String `tfsdk:"authority"`
	Subject       types.String `tfsdk:"subject"`
	Digest        types.String `tfsdk:"digest"`
}

func (d *verifyDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_verify"
}

func ostr(desc string, v ...validator.String) schema.StringAttribute {
	return schema.StringAttribute{Optional: true, Validators: v, MarkdownDescription: desc}
}

func (d *verifyDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Signature and attestation gate, by the cosign v3 and sigstore-go libraries. Resolves `image` to its digest and " +
			"verifies that it is signed by the given authorities: Sigstore bundles attached through the OCI 1.1 referrers API, bundles under the " +
			"`sha256-<digest>` referrers tag (registries without that API), and legacy cosign `.sig`/`.att` tags — all of them are searched. " +
			"A signature must cover this digest. Nothing found is a failure that says where it looked, never a pass.",
		Attributes: map[string]schema.Attribute{
			"image": schema.StringAttribute{Required: true, MarkdownDescription: "Image reference; a tag is resolved first and the digest is what must be signed."},
			"platforms": schema.ListAttribute{Optional: true, ElementType: types.StringType, Validators: platformsValidators(),
				MarkdownDescription: "For a multi-platform index: the platforms whose own attestations count when an attestation is not attached to the index. Default all. Signatures are always checked on the digest `pinned` names."},
			"require": ostr("`all` (default): every authority must verify. `any`: one suffices.", validate.OneOf("all", "any")),
			"trusted_root_json": schema.StringAttribute{Optional: true, MarkdownDescription: "Sigstore trusted root (`trusted_root.json`) for a private Sigstore or air-gapped use. " +
				"Default: Sigstore's public-good trusted root, fetched through TUF and cached in the provider's `cache_dir`."},
			"tlog": ostr("`required` (default): every signature needs a verified transparency-log entry. `optional`: key signatures without one are accepted (private setups without Rekor). "+
				"Keyless signatures always need a transparency-log entry or a signed timestamp, whatever `tlog` says: nothing else proves they were made while the short-lived certificate was valid.", validate.OneOf("required", "optional")),
			"enforcement": ostr("`error` (default) or `warn`: violations become warnings and `pinned` is set. Errors (registry, trust material) stay errors.", validate.Enforcement()),
			"pinned": cstr("`registry/repository@digest` of exactly what was judged, set only when verified, or under `warn`: the image, or for an index the index when every runnable platform was judged, " +
				"the platform's own manifest when `platforms` selects one platform. Selecting some but not all of several platforms is an error, since the index would carry platforms nobody judged."),
			"digest": cstr("Digest that was verified (the index for a multi-platform image)."),
			"passed": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the gate passed."},

			"require_signature": schema.BoolAttribute{Optional: true, MarkdownDescription: requireSignatureDescription},
			"provenance_facts":  provenanceFactsAttribute(),

			"signatures": computedObjectList("Each verified signature.", map[string]schema.Attribute{
				"authority": cstr("Authority it verified for."), "issuer": cstr("OIDC issuer of the signing certificate (keyless)."),
				"subject": cstr("Identity (SAN) of the signing certificate (keyless)."), "key_id": cstr("Public key or certificate key id."),
				"format": cstr("`bundle` (Sigstore bundle), `legacy` (cosign `.sig`) or `notation` (a Notary Project signature: `subject` is then its certificate's subject, `key_id` its SHA-256 fingerprint, `issuer` its issuer; details in `notation_signatures`)."), "location": cstr("Where it was found."),
				"integrated_time": cstr("Transparency-log integration time, RFC 3339; null without a log entry."),
				"tlog_index":      schema.Int64Attribute{Computed: true, MarkdownDescription: "Transparency-log index; -1 without a log entry."},
			}),
			"attestations": computedObjectList("Each verified attestation.", map[string]schema.Attribute{
				"predicate_type": cstr("Predicate type URI."), "authority": cstr("Authority it verified for."),
				"subject": cstr("Signer identity or key id."), "digest": cstr("Digest it is attached to."),
			}),
			"notation_signatures": notationSignaturesAttribute(),
			"violations": computedObjectList("Why the gate failed.", map[string]schema.Attribute{
				"rule": cstr("`signature`."), "platform": cstr("Unused for signatures."), "message": cstr("The reason, per authority."),
			}),
		},
		Blocks: map[string]schema.Block{
			"provenance": provenanceBlockDataSource(),
			"authority": schema.ListNestedBlock{
				MarkdownDescription: "Who may sign: a `key`, a `keyless` identity, or a `notation` trust policy (Notary Project signatures); exactly one of the three in each. At least one authority.",
				NestedObject: schema.NestedBlockObject{
					Validators: authorityValidators(),
					Attributes: map[string]schema.Attribute{
						"name": schema.StringAttribute{Required: true, MarkdownDescription: "Name used in outputs and messages, e.g. `release`."},
					},
					Blocks: map[string]schema.Block{
						"notation": notationDataSourceBlock(),
						"key": schema.ListNestedBlock{
							MarkdownDescription: "A public key: `public_key_pem`, or `kms` in cosign's syntax (`hashivault://<key>`, `awskms://…`, `gcpkms://…`, `azurekms://…`).",
							NestedObject: schema.NestedBlockObject{Validators: keyValidators(), Attributes: map[string]schema.Attribute{
								"public_key_pem": ostr("PEM public key, e.g. `file(\"cosign.pub\")`."),
								"kms":            ostr("KMS key reference in cosign's syntax; credentials come from the KMS provider's usual environment (e.g. VAULT_ADDR/VAULT_TOKEN).", validate.KMSReference()),
							}},
						},
						"keyless": schema.ListNestedBlock{
							MarkdownDescription: "A Fulcio certificate identity, in cosign's vocabulary: an issuer and a subject, each exact or as a regular expression.",
							NestedObject: schema.NestedBlockObject{Validators: keylessValidators(), Attributes: map[string]schema.Attribute{
								"issuer":                     ostr("OIDC issuer, e.g. `https://token.actions.githubusercontent.com` (cosign `--certificate-oidc-issuer`)."),
								"issuer_regexp":              ostr("Regular expression (Go RE2 syntax) the whole OIDC issuer must match, like `--certificate-oidc-issuer-regexp` but anchored: imageguard reads it as `^(?:…)$`, so `https://accounts\\.acme\\.com` does not accept `https://accounts.acme.com.evil.io` (cosign searches a pattern anywhere in the value). A pattern that is already anchored (`^…$`) means the same; write `.*` where anything may follow."),
								"subject":                    ostr("Certificate identity, e.g. `https://github.com/acme/api/.github/workflows/release.yml@refs/tags/v1.4.2` (`--certificate-identity`)."),
								"subject_regexp":             ostr("Regular expression (Go RE2 syntax) the whole certificate identity must match, like `--certificate-identity-regexp` but anchored: imageguard reads it as `^(?:…)$`, so `alice@acme\\.com` accepts `alice@acme.com` and not `alice@acme.com.evil.io` (cosign searches a pattern anywhere in the value). A pattern that is already anchored (`^…$`) means the same; to accept anything after a prefix, end it with `.*`, e.g. `^https://github\\.com/acme/api/\\.github/workflows/release\\.yml@refs/tags/v.*`. A certificate that a pattern matches only in part is refused with a message showing the anchored form."),
								"github_workflow_repository": ostr("Required GitHub workflow repository extension, e.g. `acme/api`."),
								"github_workflow_ref":        ostr("Required GitHub workflow ref extension, e.g. `refs/tags/v1.4.2`."),
								"github_workflow_trigger":    ostr("Required GitHub workflow trigger extension, e.g. `push`."),
								"github_workflow_sha":        ostr("Required GitHub workflow commit SHA extension."),
								"github_workflow_name":       ostr("Required GitHub workflow name extension."),
							}},
						},
					},
				},
			},
			"attestation": schema.ListNestedBlock{
				MarkdownDescription: "An attestation the image must carry, signed by the authority.",
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"predicate_type": schema.StringAttribute{Required: true, Validators: []validator.String{validate.PredicateType()}, MarkdownDescription: "`slsaprovenance`, `slsaprovenance02`, `slsaprovenance1`, `spdx`, `spdxjson`, `cyclonedx`, `vuln`, `openvex`, `custom`, `link`, or a predicate type URI."},
					"condition":      ostr("CEL expression over `predicate` that must be true, e.g. `predicate.buildDefinition.externalParameters.workflow.repository == \"https://github.com/acme/api\"`. Checked at plan; an invalid expression is an error.", validate.Condition()),
					"max_age":        maxAgeAttribute(),
				}},
			},
		},
	}
}

// verifySettings are the gate's inputs as plain values.
type verifySettings struct {
	Platforms   []string
	Authorities []gate.Authority
	Rules       policy.VerifyRules
	Attestation []gate.AttestationRequest
	Options     gate.VerifyOptions
	Enforcement report.Enforcement
}

func readVerifySettings(ctx context.Context, m *verifyModel, at func(string) path.Path) (verifySettings, diag.Diagnostics) {
	var diags diag.Diagnostics
	var s verifySettings
	s.Platforms = stringsOf(ctx, m.Platforms, &diags)
	switch m.Require.ValueString() {
	case "", "all":
		s.Rules.RequireAll = true
	}
	s.Options.TLog = "required"
	switch m.TLog.ValueString() {
	case "", "required":
	case "optional":
		s.Options.TLog = "optional"
	}
	s.Options.TrustedRootJSON = m.TrustedRootJSON.ValueString()
	s.Enforcement = readEnforcement(ctx, m.Enforcement, at("enforcement"), &diags)
	if len(m.Authorities) == 0 && m.Provenance == nil {
		diags.AddAttributeError(at("authority"), "No authority", "Give at least one `authority` block: who must have signed the image (a `key` or a `keyless` identity), or a `provenance` block.")
	}
	readProvenance(m.Provenance, m.RequireSignature, len(m.AttestationReqs) > 0, len(m.Authorities) > 0, at, &s.Rules, &diags)
	names := map[string]bool{}
	for i, a := range m.Authorities {
		ap := at("authority").AtListIndex(i)
		name := a.Name.ValueString()
		if names[name] {
			diags.AddAttributeError(ap.AtName("name"), "Duplicate authority name", fmt.Sprintf("Two authorities are named %q; names must be unique.", name))
		}
		names[name] = true
		auth := gate.Authority{Name: name}
		switch {
		case len(a.Key)+len(a.Keyless)+len(a.Notation) != 1:
			// validate.ExactlyOneBlock refuses it (Terraform validates a
			// configuration, with its values known, before any read).
			continue
		case len(a.Notation) == 1:
			auth.Notation = readNotation(a.Notation[0])
			if !authorityUnknown(a) {
				checkNotation(&diags, ap, auth)
			}
		case len(a.Key) == 1:
			k := a.Key[0] // keyValidators own its shape
			auth.Key = &gate.KeyAuthority{PublicKeyPEM: k.PublicKeyPEM.ValueString(), KMSRef: k.KMS.ValueString()}
		default:
			k := a.Keyless[0]
			auth.Keyless = &gate.KeylessAuthority{
				Issuer: k.Issuer.ValueString(), IssuerRegexp: k.IssuerRegexp.ValueString(),
				Subject: k.Subject.ValueString(), SubjectRegexp: k.SubjectRegexp.ValueString(),
				GitHubWorkflowRepository: k.GitHubWorkflowRepository.ValueString(), GitHubWorkflowRef: k.GitHubWorkflowRef.ValueString(),
				GitHubWorkflowTrigger: k.GitHubWorkflowTrigger.ValueString(), GitHubWorkflowSHA: k.GitHubWorkflowSHA.ValueString(),
				GitHubWorkflowName: k.GitHubWorkflowName.ValueString(),
			}
		}
		if !authorityUnknown(a) && auth.Notation == nil {
			if err := gate.ValidateAuthority(auth); err != nil {
				diags.AddAttributeError(ap, "Invalid authority", err.Error()+".")
			}
		}
		s.Authorities = append(s.Authorities, auth)
	}
	for _, a := range m.AttestationReqs {
		if a.PredicateType.IsUnknown() || a.Condition.IsUnknown() || a.MaxAge.IsUnknown() {
			continue
		}
		uri, _ := gate.PredicateTypeURI(a.PredicateType.ValueString()) // validate.PredicateType owns the names
		rule := policy.AttestationRule{PredicateType: uri}
		if ma := a.MaxAge.ValueString(); ma != "" {
			rule.MaxAge, _ = policy.ParseDuration(ma) // validate.Duration owns the format
		}
		if expr := strings.TrimSpace(a.Condition.ValueString()); expr != "" {
			rule.Condition, _ = policy.CompileCondition(expr) // validate.Condition owns the syntax
		}
		s.Rules.Attestations = append(s.Rules.Attestations, rule)
		s.Attestation = append(s.Attestation, gate.AttestationRequest{PredicateType: uri})
	}
	return s, diags
}

// authorityUnknown reports whether an authority depends on values not known
// yet (variables during validation); its checks then wait for the read.
func authorityUnknown(a authorityModel) bool {
	if a.Name.IsUnknown() {
		return true
	}
	for _, k := range a.Key {
		if k.PublicKeyPEM.IsUnknown() || k.KMS.IsUnknown() {
			return true
		}
	}
	for _, k := range a.Keyless {
		for _, v := range []types.String{k.Issuer, k.IssuerRegexp, k.Subject, k.SubjectRegexp, k.GitHubWorkflowRepository, k.GitHubWorkflowRef, k.GitHubWorkflowTrigger, k.GitHubWorkflowSHA, k.GitHubWorkflowName} {
			if v.IsUnknown() {
				return true
			}
		}
	}
	for _, n := range a.Notation {
		if n.unknown() {
			return true
		}
	}
	return false
}

func (d *verifyDataSource) ValidateConfig(ctx context.Context, req datasource.ValidateConfigRequest, resp *datasource.ValidateConfigResponse) {
	validateSettings(ctx, req.Config, &resp.Diagnostics, func(ctx context.Context, m *verifyModel) (verifySettings, diag.Diagnostics) {
		return readVerifySettings(ctx, m, path.Root)
	})
}

func (d *verifyDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx = withLogging(ctx)
	var m verifyModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, diags := readVerifySettings(ctx, &m, path.Root)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d.data.Timeout)
	defer cancel()
	j := judgeImage(ctx, d.data, &resp.Diagnostics, m.Image.ValueString(), gateInputs{Verify: &s}, time.Now())
	if j == nil {
		return
	}
	out := j.Verify
	m.Digest = types.StringValue(out.Resolved.Digest.String())
	m.Passed = types.BoolValue(out.Passed())
	m.Pinned = types.StringNull()
	if !j.Blocking {
		m.Pinned = types.StringValue(j.Pinned.String())
	}
	m.Signatures = []signatureModel{}
	m.Attestations = []attestationOutput{}
	for _, a := range out.Results {
		for _, sig := range a.Signatures {
			it := types.StringNull()
			if !sig.IntegratedTime.IsZero() {
				it = types.StringValue(sig.IntegratedTime.UTC().Format(time.RFC3339))
			}
			m.Signatures = append(m.Signatures, signatureModel{
				Authority: types.StringValue(sig.Authority), Issuer: types.StringValue(sig.Issuer), Subject: types.StringValue(sig.Subject),
				KeyID: types.StringValue(sig.KeyID), Format: types.StringValue(sig.Format), Location: types.StringValue(sig.Location),
				IntegratedTime: it, TLogIndex: types.Int64Value(sig.TLogIndex),
			})
		}
	}
	for _, a := range out.Attestations {
		m.Attestations = append(m.Attestations, attestationOutput{PredicateType: types.StringValue(a.PredicateType), Authority: types.StringValue(a.Authority),
			Subject: types.StringValue(a.Subject), Digest: types.StringValue(a.Digest)})
	}
	m.ProvenanceFacts = provenanceFactsOf(out.Provenance)
	m.Violations = []violationModel{}
	for _, v := range out.Violations {
		m.Violations = append(m.Violations, violationModel{Rule: types.StringValue(v.Rule), Platform: types.StringValue(v.Platform), Message: types.StringValue(v.Found)})
	}
	m.NotationSignatures = notationSignaturesOf(out.Results)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// maxAgeDescription documents the `max_age` of an `attestation` requirement.
const maxAgeDescription = "Oldest acceptable attestation, as a Go duration, e.g. `168h`, measured from its verified time: when the transparency log " +
	"(Rekor's integrated time) or, for a keyless signature, an RFC 3161 timestamp authority saw its signature — never from registry annotations " +
	"such as `org.opencontainers.image.created` or from dates in the predicate, which anyone who can push or sign can write. " +
	"An attestation without a verified time (a key signature with `tlog = \"optional\"` and no log entry; a timestamp does not date a key signature, " +
	"since anyone can have an old one timestamped) fails `max_age`: attest with the transparency log, or keyless. " +
	"When several attestations of the type verify, the newest by verified time is the one judged (condition and `max_age`). " +
	"A predicate that dates itself more than 5 minutes after its verified time (`metadata.scanFinishedOn` of a `vuln` predicate, `judgedAt` of an " +
	"`https://imageguard.dev/verdict/v1` verdict) is refused, with or without `max_age`. An attestation whose verified time is more than 5 minutes in the future does not count. Default: no limit."

func maxAgeAttribute() schema.StringAttribute {
	return schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Duration()}, MarkdownDescription: maxAgeDescription}
}

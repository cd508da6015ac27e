package provider

import (
	"time"

	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
)

// The `provenance` block and `require_signature`, shared by imageguard_verify
// and the verify blocks of imageguard_pin, imageguard_attestation,
// imageguard_policy and imageguard_check.

type provenanceModel struct {
	SourceRepository      types.String `tfsdk:"source_repository"`
	SourceOwner           types.String `tfsdk:"source_owner"`
	SignerWorkflow        types.String `tfsdk:"signer_workflow"`
	SourceRef             types.String `tfsdk:"source_ref"`
	DenySelfHostedRunners types.Bool   `tfsdk:"deny_self_hosted_runners"`
	PredicateType         types.String `tfsdk:"predicate_type"`
	MaxAge                types.String `tfsdk:"max_age"`
}

type provenanceFactsModel struct {
	Digest            types.String `tfsdk:"digest"`
	Platform          types.String `tfsdk:"platform"`
	Repository        types.String `tfsdk:"repository"`
	Ref               types.String `tfsdk:"ref"`
	Commit            types.String `tfsdk:"commit"`
	Workflow          types.String `tfsdk:"workflow"`
	Builder           types.String `tfsdk:"builder"`
	RunnerEnvironment types.String `tfsdk:"runner_environment"`
	Invocation        types.String `tfsdk:"invocation"`
	Issuer            types.String `tfsdk:"issuer"`
	BuildTime         types.String `tfsdk:"build_time"`
}

const requireSignatureDescription = "Whether each authority must have signed the image (`cosign sign`). Default `true`. " +
	"With `false`, an authority is satisfied by the attestations it signed for this digest (the `attestation` blocks, at least one), " +
	"as `cosign verify-attestation`, Kyverno and policy-controller accept them; so `imageguard_attestation`'s verdict, or a build's " +
	"attestations, can be required without a separate signature. A `provenance` block never needs an image signature."

const provenanceDescription = "SLSA provenance the image must carry, made by a GitHub Actions workflow (github.com or a GHE.com tenant) and judged as " +
	"`gh attestation verify --owner/--repo --signer-workflow --source-ref --deny-self-hosted-runners` judges it: the Fulcio certificate of the " +
	"attestation says (from the workflow's OIDC token) which repository, owner, ref, commit, workflow and runner built it; its in-toto subject must " +
	"be the digest judged (on an index: the index, or else every platform judged). Found where `actions/attest-build-provenance` with " +
	"`push-to-registry: true` puts it (an OCI referrer holding a Sigstore bundle), under the `sha256-<digest>` referrers tag, or as a legacy `.att` " +
	"attestation (slsa-github-generator). Needs no `authority` and no image signature; authorities, when given, are judged besides it. " +
	"Public repositories: Sigstore's public-good trust root (the default). Private repositories: GitHub's own Sigstore instance, given as " +
	"`trusted_root_json` (see the guide \"Deploy only what your release workflow built\"), with `tlog = \"optional\"` since it has no transparency " +
	"log (its attestations carry signed timestamps). A refusal names the field, what it requires and what the certificate says."

func provenanceAttributeDescriptions() map[string]string {
	return map[string]string{
		"source_repository": "Repository whose builds count, `<host>/<owner>/<repository>`, e.g. `github.com/acme/api` (or `acme.ghe.com/acme/api` on a GHE.com tenant, " +
			"whose OIDC issuer `https://token.actions.acme.ghe.com` is then required). Compared without case, as gh does. One of `source_repository` and `source_owner` is required.",
		"source_owner": "Owner (organization or user) whose repositories' builds count, `<host>/<owner>`, e.g. `github.com/acme` (gh `--owner`).",
		"signer_workflow": "The workflow that must have signed, `[<host>/]<owner>/<repository>/<path>[@<ref>]`, e.g. `github.com/acme/api/.github/workflows/release.yml` " +
			"(gh `--signer-workflow`). Globs (`*`, `?`, `[…]`; `*` does not cross `/`) in the path and in the ref: `…/release.yml@refs/tags/v*`. Without `@`, any ref of that " +
			"workflow; without a host, the source repository's. Unlike gh, the path must match whole: `release.yml` does not accept `release.yml.evil.yml`. " +
			"Default: any workflow of the source repository (or of the owner), as gh's default — a reusable workflow of another repository (slsa-github-generator) must be named.",
		"source_ref": "Glob the source ref must match, e.g. `refs/heads/main` or `refs/tags/v*` (gh `--source-ref`, which compares exactly). Default: any ref.",
		"deny_self_hosted_runners": "Refuse builds on self-hosted runners: the certificate's runner environment must be `github-hosted` " +
			"(gh `--deny-self-hosted-runners`). Default `false`.",
		"predicate_type": "Predicate type of the provenance, default `https://slsa.dev/provenance/v1` (what GitHub writes); `https://slsa.dev/provenance/v0.2` for " +
			"slsa-github-generator's container workflow. cosign's short names (`slsaprovenance1`, `slsaprovenance02`) work too.",
		"max_age": "Oldest acceptable build, as a Go duration, e.g. `720h`: measured from the attestation's verified time (the transparency log's, or a " +
			"signed timestamp's), never from dates in the predicate. Default: no limit.",
	}
}

// provenanceBlockDataSource is the `provenance` block of data sources.
func provenanceBlockDataSource() dsschema.SingleNestedBlock {
	d := provenanceAttributeDescriptions()
	attrs := map[string]dsschema.Attribute{}
	for name, desc := range d {
		switch name {
		case "deny_self_hosted_runners":
			attrs[name] = dsschema.BoolAttribute{Optional: true, MarkdownDescription: desc}
		case "max_age":
			attrs[name] = dsschema.StringAttribute{Optional: true, Validators: []validator.String{validate.Duration()}, MarkdownDescription: desc}
		case "predicate_type":
			attrs[name] = dsschema.StringAttribute{Optional: true, Validators: []validator.String{validate.PredicateType()}, MarkdownDescription: desc}
		default:
			attrs[name] = dsschema.StringAttribute{Optional: true, MarkdownDescription: desc}
		}
	}
	return dsschema.SingleNestedBlock{MarkdownDescription: provenanceDescription, Attributes: attrs}
}

// provenanceBlockResource is the `provenance` block of resources' verify blocks.
func provenanceBlockResource() schema.SingleNestedBlock {
	d := provenanceAttributeDescriptions()
	attrs := map[string]schema.Attribute{}
	for name, desc := range d {
		switch name {
		case "deny_self_hosted_runners":
			attrs[name] = schema.BoolAttribute{Optional: true, MarkdownDescription: desc}
		case "max_age":
			attrs[name] = schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Duration()}, MarkdownDescription: desc}
		case "predicate_type":
			attrs[name] = schema.StringAttribute{Optional: true, Validators: []validator.String{validate.PredicateType()}, MarkdownDescription: desc}
		default:
			attrs[name] = schema.StringAttribute{Optional: true, MarkdownDescription: desc}
		}
	}
	return schema.SingleNestedBlock{MarkdownDescription: provenanceDescription, Attributes: attrs}
}

// provenanceFactsAttribute is imageguard_verify's `provenance_facts`.
func provenanceFactsAttribute() dsschema.Attribute {
	return computedObjectList("The verified provenance, one entry per digest it was judged on (the image or index; each platform of an index whose "+
		"provenance is on its platforms), from the newest accepted attestation: for tagging deployments with what built them. Empty without a `provenance` block.",
		map[string]dsschema.Attribute{
			"digest":             cstr("Digest the provenance is for (its in-toto subject)."),
			"platform":           cstr("Platform of that manifest, empty for the image or index itself."),
			"repository":         cstr("Source repository URI, e.g. `https://github.com/acme/api` (certificate extension 1.3.6.1.4.1.57264.1.12)."),
			"ref":                cstr("Source ref built, e.g. `refs/heads/main` (extension .1.14)."),
			"commit":             cstr("Source commit built (extension .1.13)."),
			"workflow":           cstr("Workflow that signed, `https://github.com/<owner>/<repo>/<path>@<ref>` (build signer URI, extension .1.9)."),
			"builder":            cstr("The predicate's builder id (`runDetails.builder.id`, v0.2 `builder.id`)."),
			"runner_environment": cstr("`github-hosted` or `self-hosted` (extension .1.11)."),
			"invocation":         cstr("The run, e.g. `https://github.com/acme/api/actions/runs/42/attempts/1` (extension .1.21)."),
			"issuer":             cstr("OIDC issuer of the signing certificate."),
			"build_time":         cstr("When the attestation was signed, RFC 3339: its verified time (transparency log or signed timestamp)."),
		})
}

// readProvenance converts the `provenance` block and `require_signature`
// into the gate's rules. at names attributes of the verify block.
func readProvenance(p *provenanceModel, requireSignature types.Bool, hasAttestations, hasAuthorities bool, at func(string) path.Path, rules *policy.VerifyRules, diags *diag.Diagnostics) {
	if !requireSignature.IsNull() && !requireSignature.IsUnknown() && !requireSignature.ValueBool() {
		rules.AttestationsOnly = true
		if !hasAttestations && hasAuthorities {
			diags.AddAttributeError(at("require_signature"), "Nothing to require without a signature",
				"With `require_signature = false` an authority is satisfied by the attestations it signed for this digest: add an `attestation` block naming which "+
					"(e.g. `predicate_type = \"https://imageguard.dev/verdict/v1\"`), or set `require_signature = true`.")
		}
	}
	if p == nil {
		return
	}
	pp := at("provenance")
	for _, v := range []types.String{p.SourceRepository, p.SourceOwner, p.SignerWorkflow, p.SourceRef, p.PredicateType, p.MaxAge} {
		if v.IsUnknown() {
			return // checked again at read, when every value is known
		}
	}
	if p.DenySelfHostedRunners.IsUnknown() {
		return
	}
	r := policy.ProvenanceRule{
		SourceRepository: p.SourceRepository.ValueString(), SourceOwner: p.SourceOwner.ValueString(),
		SignerWorkflow: p.SignerWorkflow.ValueString(), SourceRef: p.SourceRef.ValueString(),
		DenySelfHostedRunners: p.DenySelfHostedRunners.ValueBool(), PredicateType: gate.ProvenancePredicateType,
	}
	// validate.PredicateType and validate.Duration own these values' shape.
	if t := p.PredicateType.ValueString(); t != "" {
		r.PredicateType, _ = gate.PredicateTypeURI(t)
	}
	if ma := p.MaxAge.ValueString(); ma != "" {
		r.MaxAge, _ = policy.ParseDuration(ma)
	}
	if err := gate.ValidateProvenance(gate.Provenance{SourceRepository: r.SourceRepository, SourceOwner: r.SourceOwner,
		SignerWorkflow: r.SignerWorkflow, SourceRef: r.SourceRef, PredicateType: r.PredicateType}); err != nil {
		diags.AddAttributeError(pp, "Invalid provenance block", err.Error()+".")
		return
	}
	rules.Provenance = &r
}

// provenanceFactsOf is the `provenance_facts` output of a verify outcome.
func provenanceFactsOf(found []gate.ProvenanceFound) []provenanceFactsModel {
	out := []provenanceFactsModel{}
	for _, p := range found {
		f := p.Facts
		bt := types.StringNull()
		if !f.BuildTime.IsZero() {
			bt = types.StringValue(f.BuildTime.UTC().Format(time.RFC3339))
		}
		out = append(out, provenanceFactsModel{
			Digest: types.StringValue(p.Digest), Platform: types.StringValue(p.Platform), Repository: types.StringValue(f.Repository),
			Ref: types.StringValue(f.Ref), Commit: types.StringValue(f.Commit), Workflow: types.StringValue(f.Workflow), Builder: types.StringValue(f.Builder),
			RunnerEnvironment: types.StringValue(f.RunnerEnvironment), Invocation: types.StringValue(f.Invocation), Issuer: types.StringValue(f.Issuer), BuildTime: bt,
		})
	}
	return out
}

package provider

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/provider/validate"
)

// pinSchemaVersion is the version of imageguard_pin's state. Version 1
// made on_tag_move Optional + Computed (default "update") and added
// `enforcement` to the verify and policy blocks; version 2 added `max_age`
// to verify's `attestation` blocks; version 3 (this release) added
// `unknown_severity` and `exploited` to the scan block, and
// `require_signature`, `provenance` and the `notation` authority to the
// verify block: all optional, null in older state. UpgradeState carries
// older states over.
const pinSchemaVersion = 3

func (r *pinResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		Version: pinSchemaVersion,
		MarkdownDescription: "Keeps an approved digest for a tag and re-judges it on every plan. The plan resolves `ref`; when the tag has " +
			"moved it judges the new digest and shows the change (old → new digest, known at plan); it also re-judges the approved digest " +
			"against the current vulnerability database and fails (or warns) when newly published findings now violate the gate, naming them " +
			"and the approval date. Apply only records what the plan judged — also when a saved plan is applied after the tag moved again: " +
			"the refresh records what the tag names (`tag_digest`) and the apply follows that, with a warning; the next plan shows the new move. " +
			"Destroy only drops the record.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The `ref` followed.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"ref": schema.StringAttribute{Required: true, MarkdownDescription: "Tag reference to follow, e.g. `registry.example.com/team/api:1.4`."},
			"platforms": schema.ListAttribute{Optional: true, ElementType: types.StringType,
				Validators:          []validator.List{listvalidator.SizeAtLeast(1), listvalidator.ValueStringsAre(validate.Platform())},
				MarkdownDescription: "Platforms of a multi-platform index to judge, e.g. `[\"linux/amd64\"]`. Default: all. With one platform, `pinned` names that platform's manifest (the one judged)."},
			"on_tag_move": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(gate.OnTagMoveUpdate),
				Validators: []validator.String{validate.OneOf(gate.OnTagMoveUpdate, gate.OnTagMoveError, gate.OnTagMoveIgnore)},
				MarkdownDescription: "What a moved tag does at plan: `update` (default) judges the new digest " +
					"and proposes it; `error` fails the plan naming both digests; `ignore` keeps the approved digest (still re-judged)."},
			"digest":      computed("The approved digest."),
			"pinned":      computed("`registry/repository@digest` of what was judged and approved: what to deploy."),
			"tag_digest":  computed("What the tag named when the state was last refreshed (or planned); the plan and its apply follow this."),
			"approved_at": computed("When the approval was applied, RFC 3339. Known after apply when the plan approves a new digest."),
			"approved_db_version": computed("The vulnerability database it was approved against: `<schema version>@<UpdatedAt>`. " +
				"Known after apply when the plan approves a new digest (the apply-time plan judges it again)."),
			"findings_at_approval": schema.MapAttribute{Computed: true, ElementType: types.Int64Type,
				MarkdownDescription: "Findings per severity when it was approved. Known after apply when the plan approves a new digest."},
		},
		Blocks: map[string]schema.Block{
			"scan":   pinScanBlock(),
			"verify": pinVerifyBlock(),
			"policy": pinPolicyBlock(),
		},
	}
}

func enforcementAttribute(scope string) schema.StringAttribute {
	return schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Enforcement()},
		MarkdownDescription: "`error` (default) or `warn`: " + scope + " become warnings. One block's `warn` never relaxes another gate; errors stay errors."}
}

func optionalStrings(desc string, elem ...validator.String) schema.ListAttribute {
	a := schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: desc}
	if len(elem) > 0 {
		a.Validators = []validator.List{listvalidator.ValueStringsAre(elem...)}
	}
	return a
}

func pinScanBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "The scan gate's settings, as in `data \"imageguard_scan\"`. Without the block the defaults apply (threshold `HIGH`, both scanners, " +
			"OS releases without advisory data or at end of life are violations).",
		Attributes: map[string]schema.Attribute{
			"severity_threshold": schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Severity()},
				MarkdownDescription: "`UNKNOWN`, `LOW`, `MEDIUM`, `HIGH` (default) or `CRITICAL`."},
			"ignore_unfixed":   schema.BoolAttribute{Optional: true, MarkdownDescription: "Do not count findings without a fixed version. Default `false`."},
			"unknown_severity": unknownSeverityAttribute(),
			"scanners":         optionalStrings("Subset of `vuln`, `secret`. Default both.", validate.OneOf("vuln", "secret")),
			"pkg_types":        optionalStrings("Subset of `os`, `library`. Default both.", validate.OneOf("os", "library")),
			"vex":              optionalStrings("VEX documents, as `trivy --vex` reads them."),
			"enforcement":      enforcementAttribute("scan violations"),
		},
		Blocks: map[string]schema.Block{
			"exploited": exploitedResourceBlock(),
			"ignore": schema.ListNestedBlock{
				MarkdownDescription: "An accepted risk, as in `data \"imageguard_scan\"`: a finding id, a secret rule id, `OS-UNSUPPORTED`, `OS-EOSL` or `OS-PACKAGES-UNSEEN`.",
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"id":       schema.StringAttribute{Required: true, MarkdownDescription: "Finding id or secret rule id."},
					"reason":   schema.StringAttribute{Required: true, MarkdownDescription: "Why the risk is accepted."},
					"expires":  schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Date()}, MarkdownDescription: "Last day it applies, `YYYY-MM-DD`."},
					"packages": optionalStrings("Only in these packages."),
				}},
			},
		},
	}
}

func pinVerifyBlock() schema.Block {
	opt := func(desc string, v ...validator.String) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, Validators: v, MarkdownDescription: desc}
	}
	return schema.SingleNestedBlock{
		MarkdownDescription: "The signature gate (as `imageguard_verify`): a new digest is approved only when verified, and the approved digest is verified again on every plan.",
		Attributes: map[string]schema.Attribute{
			"require": opt("`all` (default): every authority must verify. `any`: one suffices.", validate.OneOf("all", "any")),
			"trusted_root_json": opt("Sigstore trusted root (`trusted_root.json`) for a private Sigstore or air-gapped use. " +
				"Default: Sigstore's public-good trusted root, fetched through TUF and cached in the provider's `cache_dir`."),
			"tlog": opt("`required` (default): every signature needs a verified transparency-log entry. `optional`: key signatures without one are accepted. "+
				"Keyless signatures always need a transparency-log entry or a signed timestamp.", validate.OneOf("required", "optional")),
			"enforcement":       enforcementAttribute("signature violations"),
			"require_signature": schema.BoolAttribute{Optional: true, MarkdownDescription: requireSignatureDescription},
		},
		Blocks: map[string]schema.Block{
			"provenance": provenanceBlockResource(),
			"authority": schema.ListNestedBlock{
				MarkdownDescription: "Who may sign: a `key`, a `keyless` identity or a `notation` trust policy, exactly one in each, as in `imageguard_verify`.",
				NestedObject: schema.NestedBlockObject{
					Validators: authorityValidators(),
					Attributes: map[string]schema.Attribute{
						"name": schema.StringAttribute{Required: true, MarkdownDescription: "Name used in outputs and messages, e.g. `release`."},
					},
					Blocks: map[string]schema.Block{
						"notation": notationResourceBlock(),
						"key": schema.ListNestedBlock{
							MarkdownDescription: "A public key: `public_key_pem`, or `kms` in cosign's syntax.",
							Validators:          []validator.List{listvalidator.SizeAtMost(1)},
							NestedObject: schema.NestedBlockObject{Validators: keyValidators(), Attributes: map[string]schema.Attribute{
								"public_key_pem": opt("PEM public key, e.g. `file(\"cosign.pub\")`."),
								"kms":            schema.StringAttribute{Optional: true, Validators: []validator.String{validate.KMSReference()}, MarkdownDescription: "KMS key reference in cosign's syntax (`hashivault://`, `awskms://`, `gcpkms://`, `azurekms://`)."},
							}},
						},
						"keyless": schema.ListNestedBlock{
							MarkdownDescription: "A Fulcio certificate identity: an issuer and a subject, each exact or as a regular expression.",
							Validators:          []validator.List{listvalidator.SizeAtMost(1)},
							NestedObject: schema.NestedBlockObject{Validators: keylessValidators(), Attributes: map[string]schema.Attribute{
								"issuer":                     opt("OIDC issuer (cosign `--certificate-oidc-issuer`)."),
								"issuer_regexp":              opt("Regular expression (Go RE2) the whole OIDC issuer must match: anchored as `^(?:…)$`, so `https://accounts\\.acme\\.com` does not accept `https://accounts.acme.com.evil.io`; write `.*` where anything may follow."),
								"subject":                    opt("Certificate identity (cosign `--certificate-identity`)."),
								"subject_regexp":             opt("Regular expression (Go RE2) the whole certificate identity must match: anchored as `^(?:…)$`, so `alice@acme\\.com` does not accept `alice@acme.com.evil.io`; to accept anything after a prefix, end it with `.*`."),
								"github_workflow_repository": opt("Required GitHub workflow repository extension."),
								"github_workflow_ref":        opt("Required GitHub workflow ref extension."),
								"github_workflow_trigger":    opt("Required GitHub workflow trigger extension."),
								"github_workflow_sha":        opt("Required GitHub workflow commit SHA extension."),
								"github_workflow_name":       opt("Required GitHub workflow name extension."),
							}},
						},
					},
				},
			},
			"attestation": schema.ListNestedBlock{
				MarkdownDescription: "An attestation the image must carry, signed by the authority; on an index, on the index or on every platform.",
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"predicate_type": schema.StringAttribute{Required: true, Validators: []validator.String{validate.PredicateType()}, MarkdownDescription: "`slsaprovenance1`, `spdxjson`, `cyclonedx`, `vuln`, … or a predicate type URI."},
					"condition":      opt("CEL expression over `predicate` that must be true on every platform.", validate.Condition()),
					"max_age":        opt(maxAgeDescription, validate.Duration()),
				}},
			},
		},
	}
}

func pinPolicyBlock() schema.Block {
	attrs := map[string]schema.Attribute{}
	for name, a := range ruleAttributes() {
		desc := a.GetMarkdownDescription()
		switch name {
		case "require_non_root", "secrets_in_config":
			attrs[name] = schema.BoolAttribute{Optional: true, MarkdownDescription: desc}
		case "required_labels":
			attrs[name] = schema.MapAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: desc}
		case "max_size", "max_layers":
			attrs[name] = schema.Int64Attribute{Optional: true, MarkdownDescription: desc}
		case "max_image_age":
			attrs[name] = schema.StringAttribute{Optional: true, Validators: []validator.String{validate.Duration()}, MarkdownDescription: desc}
		case "layer_encryption":
			attrs[name] = schema.StringAttribute{Optional: true, Validators: []validator.String{validate.OneOf("require", "forbid", "allow")}, MarkdownDescription: desc}
		default:
			attrs[name] = optionalStrings(desc)
		}
	}
	attrs["enforcement"] = enforcementAttribute("rule violations")
	exception := map[string]schema.Attribute{}
	for name, a := range exceptionBlock().NestedObject.Attributes {
		s := schema.StringAttribute{Optional: a.IsOptional(), Required: a.IsRequired(), MarkdownDescription: a.GetMarkdownDescription()}
		if name == "expires" {
			s.Validators = []validator.String{validate.Date()}
		}
		exception[name] = s
	}
	return schema.SingleNestedBlock{
		MarkdownDescription: "Hardening rules (as `imageguard_policy`) a digest must meet to be approved, judged again on every plan, on every platform judged.",
		Attributes:          attrs,
		Blocks: map[string]schema.Block{"exception": schema.ListNestedBlock{
			MarkdownDescription: exceptionBlock().MarkdownDescription,
			NestedObject:        schema.NestedBlockObject{Attributes: exception},
		}},
	}
}

// UpgradeState carries a version 0 state (the first release) over: its
// layout is version 1's but for on_tag_move, null there and "update" now.
func (r *pinResource) UpgradeState(context.Context) map[int64]resource.StateUpgrader {
	return map[int64]resource.StateUpgrader{
		0: {StateUpgrader: func(_ context.Context, req resource.UpgradeStateRequest, resp *resource.UpgradeStateResponse) {
			upgraded, err := upgradePinStateV0(req.RawState.JSON)
			if err != nil {
				resp.Diagnostics.AddError("Cannot upgrade imageguard_pin state", fmt.Sprintf("The version 0 state does not read: %v. Remove the resource from state and import it again as `<ref>@<digest>`.", err))
				return
			}
			resp.DynamicValue = &tfprotov6.DynamicValue{JSON: upgraded}
		}},
		// Version 1 lacks only `max_age`, which reads as null (no limit).
		1: {StateUpgrader: passThroughState},
		// Version 2 lacks only `unknown_severity`, which reads as null ("fail").
		2: {StateUpgrader: passThroughState},
	}
}

// passThroughState carries over a state whose layout lacks only optional
// attributes added since: they read as null, their documented default.
func passThroughState(_ context.Context, req resource.UpgradeStateRequest, resp *resource.UpgradeStateResponse) {
	resp.DynamicValue = &tfprotov6.DynamicValue{JSON: req.RawState.JSON}
}

// upgradePinStateV0 rewrites a version 0 state document as version 1.
func upgradePinStateV0(raw []byte) ([]byte, error) {
	var state map[string]any
	if err := json.Unmarshal(raw, &state); err != nil {
		return nil, err
	}
	if v, ok := state["on_tag_move"]; !ok || v == nil || v == "" {
		state["on_tag_move"] = gate.OnTagMoveUpdate
	}
	return json.Marshal(state)
}

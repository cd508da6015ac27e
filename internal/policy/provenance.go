package policy

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// ProvenanceRule requires SLSA provenance that the verifier accepted (who
// built the image, from what, where: checked against the signing
// certificate there) and, with MaxAge, no older than that by its verified
// time. It is judged apart from the authorities: `require = "any"` never
// lets an authority stand in for it.
//
// The fields are the provenance block's, checked by the verifier against
// each attestation's certificate and predicate (verify.Provenance).
type ProvenanceRule struct {
	SourceRepository, SourceOwner, SignerWorkflow, SourceRef string
	DenySelfHostedRunners                                    bool
	PredicateType                                            string
	MaxAge                                                   time.Duration
}

// Requires words what the rule asks for, e.g. "from github.com/acme/api,
// signed by github.com/acme/api/.github/workflows/release.yml, on
// refs/heads/main, on a GitHub-hosted runner".
func (r ProvenanceRule) Requires() string {
	var parts []string
	if r.SourceRepository != "" {
		parts = append(parts, "from "+r.SourceRepository)
	}
	if r.SourceOwner != "" {
		parts = append(parts, "from a repository of "+r.SourceOwner)
	}
	if r.SignerWorkflow != "" {
		parts = append(parts, "signed by "+r.SignerWorkflow)
	}
	if r.SourceRef != "" {
		parts = append(parts, "on "+r.SourceRef)
	}
	if r.DenySelfHostedRunners {
		parts = append(parts, "on a GitHub-hosted runner")
	}
	if r.MaxAge > 0 {
		parts = append(parts, "built within "+r.MaxAge.String())
	}
	return strings.Join(parts, ", ")
}

// ProvenanceOutcome is what the verifier accepted as provenance.
type ProvenanceOutcome struct {
	Attestations []VerifiedAttestation
	// PlatformAttestations holds, for an index, each platform's own
	// (platform → attestations): provenance not on the index must be on
	// every platform, as for attestation rules.
	PlatformAttestations map[string][]VerifiedAttestation
	// Reasons say why candidates were refused, from the verifier.
	Reasons []string
}

// EvaluateProvenance judges the provenance requirement: the newest accepted
// attestation (by verified time) on the index or on every platform, within
// MaxAge.
func EvaluateProvenance(ctx context.Context, o ProvenanceOutcome, r ProvenanceRule, now time.Time) []Violation {
	rule := AttestationRule{PredicateType: r.PredicateType, MaxAge: r.MaxAge}
	ok, why := attestationSatisfied(ctx, o.Attestations, rule, now)
	if !ok && len(o.PlatformAttestations) > 0 {
		ok, why = everyPlatformSatisfies(ctx, o.PlatformAttestations, rule, now)
	}
	if ok {
		return nil
	}
	found := "provenance: " + why
	if len(o.Reasons) > 0 {
		found += "; " + strings.Join(o.Reasons, "; ")
	}
	return []Violation{{
		Rule:     "provenance",
		Found:    found,
		Requires: fmt.Sprintf("SLSA provenance (%s) %s", r.PredicateType, r.Requires()),
		Fix: "deploy an image your release workflow built and attested (actions/attest-build-provenance with push-to-registry: true), " +
			"or correct the provenance block (source_repository, signer_workflow, source_ref) to the build you trust",
	}}
}

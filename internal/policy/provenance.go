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
type ProvenanceRule struct {
	PredicateType string
	MaxAge        time.Duration
	// Requires words what was asked, for messages, e.g. "built by
	// github.com/acme/api/.github/workflows/release.yml on refs/heads/main".
	Requires string
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
		Requires: fmt.Sprintf("SLSA provenance (%s) %s", r.PredicateType, r.Requires),
		Fix: "deploy an image your release workflow built and attested (actions/attest-build-provenance with push-to-registry: true), " +
			"or correct the provenance block (source_repository, signer_workflow, source_ref) to the build you trust",
	}}
}

package gate

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// VerifySettings are the signature gate's inputs.
type VerifySettings struct {
	// Platforms selects the platforms of an index whose own attestations
	// count; empty means all.
	Platforms    []string
	Authorities  []verify.Authority
	Attestations []verify.AttestationRequest
	// Rules also say whether authorities need an image signature
	// (AttestationsOnly) and what provenance is required (Provenance).
	Rules policy.VerifyRules
}

// AttestationFound is one verified attestation and where it is attached.
type AttestationFound struct {
	PredicateType, Authority, Subject, Digest string
}

// VerifyOutcome is the signature gate's verdict on one image.
type VerifyOutcome struct {
	Resolved     *registry.Resolved
	Results      []verify.AuthorityResult
	Attestations []AttestationFound
	Violations   []policy.Violation
	// Searched lists where signatures were looked for.
	Searched []string
	// Provenance are the verified provenance facts, per digest judged.
	Provenance []ProvenanceFound
	// Judged are the manifests the gate judged: the image, or the platform
	// manifests of an index that `platforms` selects (PinnedFor).
	Judged []string
	// Enforcement is the gate's (set by Judge).
	Enforcement report.Enforcement
}

// Passed reports whether no violation was found.
func (o *VerifyOutcome) Passed() bool { return len(o.Violations) == 0 }

// Verify verifies signatures on the digest the reference resolved to and,
// for an index, attestations on the index or on every selected platform:
// an attestation rule that the index's own attestations do not satisfy
// must hold on each platform, condition included.
func Verify(ctx context.Context, reg *registry.Client, v *verify.Verifier, resolved *registry.Resolved, s VerifySettings) (*VerifyOutcome, error) {
	image := resolved.Ref.Input
	res, err := v.Verify(ctx, s.request(resolved.Ref.Repository, resolved.Digest))
	if err != nil {
		return nil, &Error{Summary: "Verification failed", Detail: fmt.Sprintf("%s (%s) could not be verified, so it cannot pass: %v", image, resolved.Digest, err), Err: err}
	}
	out := &VerifyOutcome{Resolved: resolved, Results: res.Authorities, Searched: res.Searched}
	logAuthorities(ctx, resolved.Ref.Repository.Name(), resolved.Digest.String(), res.Authorities)
	prov := newProvenanceTally(s)
	prov.index(ctx, res, resolved.Digest.String())
	outcomes := make([]policy.AuthorityOutcome, len(res.Authorities))
	for i, a := range res.Authorities {
		outcomes[i] = policy.AuthorityOutcome{Name: a.Authority, Signatures: len(a.Signatures), Reasons: a.Reasons}
		for _, att := range a.Attestations {
			outcomes[i].Attestations = append(outcomes[i].Attestations, policy.VerifiedAttestation{PredicateType: att.PredicateType, Predicate: att.Predicate, VerifiedTime: att.VerifiedTime})
			out.Attestations = append(out.Attestations, AttestationFound{att.PredicateType, a.Authority, att.Subject, resolved.Digest.String()})
		}
	}
	// The platforms judged: a signature on the index covers every child,
	// but attestations are judged on the selected platforms only, so a
	// narrowed selection narrows what may be handed out.
	platforms, err := reg.Platforms(ctx, resolved, s.Platforms)
	if err != nil {
		return nil, &Error{Attr: attrForRegistryError(err), Summary: registry.KindOf(err).Summary(), Detail: err.Error(), Err: err}
	}
	for _, pm := range platforms {
		out.Judged = append(out.Judged, pm.Digest.String())
	}
	if resolved.IsIndex() && (len(s.Attestations) > 0 || s.Rules.Provenance != nil) {
		for i := range outcomes {
			outcomes[i].PlatformAttestations = map[string][]policy.VerifiedAttestation{}
		}
		for _, pm := range platforms {
			label := platformLabel(pm)
			pres, err := v.Verify(ctx, s.request(resolved.Ref.Repository, pm.Digest))
			if err != nil {
				return nil, &Error{Summary: "Verification failed", Detail: fmt.Sprintf("%s (%s, platform %s) could not be verified, so it cannot pass: %v", image, pm.Digest, pm.Platform, err), Err: err}
			}
			logAuthorities(ctx, resolved.Ref.Repository.Name(), pm.Digest.String(), pres.Authorities)
			prov.platform(ctx, label, pm.Platform, pres, pm.Digest.String())
			for i, a := range pres.Authorities {
				atts := outcomes[i].PlatformAttestations[label]
				for _, att := range a.Attestations {
					atts = append(atts, policy.VerifiedAttestation{PredicateType: att.PredicateType, Predicate: att.Predicate, VerifiedTime: att.VerifiedTime})
					out.Attestations = append(out.Attestations, AttestationFound{att.PredicateType, a.Authority, att.Subject, pm.Digest.String()})
				}
				outcomes[i].PlatformAttestations[label] = atts
			}
		}
	}
	rules := s.Rules
	if rules.Now.IsZero() {
		rules.Now = time.Now() // an attestation's max_age is judged now
	}
	out.Violations = policy.EvaluateVerify(ctx, outcomes, rules)
	out.Violations = append(out.Violations, prov.judge(ctx, rules)...)
	out.Provenance = prov.found
	return out, nil
}

// platformLabel names a platform manifest in messages; two children with
// the same platform stay apart by digest.
func platformLabel(pm registry.PlatformManifest) string {
	if pm.Platform == "" {
		return pm.Digest.String()
	}
	return pm.Platform + " (" + pm.Digest.String() + ")"
}

// attrForRegistryError is the attribute a registry error concerns: a
// platform that does not exist is the `platforms` attribute's fault.
func attrForRegistryError(err error) Field {
	if registry.KindOf(err) == registry.KindPlatform {
		return FieldPlatforms
	}
	return FieldImage
}

// Log subsystems of the gates in this package.
const (
	VerifyLogSubsystem = "verify"
	PolicyLogSubsystem = "policy"
)

// logAuthorities logs what each authority verified on one digest.
func logAuthorities(ctx context.Context, repo, digest string, results []verify.AuthorityResult) {
	for _, a := range results {
		tflog.SubsystemDebug(ctx, VerifyLogSubsystem, "authority tried", map[string]any{
			"repository": repo, "digest": digest, "authority": a.Authority,
			"signatures": len(a.Signatures), "attestations": len(a.Attestations), "reasons": a.Reasons,
		})
	}
}

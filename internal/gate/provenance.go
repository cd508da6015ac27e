package gate

import (
	"context"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// ProvenanceFound is the provenance judged on one digest (the index, or a
// platform manifest): the facts of the newest accepted attestation.
type ProvenanceFound struct {
	Digest string
	// Platform is empty for the digest judged itself (the image or index).
	Platform string
	Facts    verify.ProvenanceFacts
}

// request is the verifier's request for one digest: the rules say whether
// authorities need a signature and what provenance is required.
func (s VerifySettings) request(repo name.Repository, d v1.Hash) verify.Request {
	req := verify.Request{Repository: repo, Digest: d, Authorities: s.Authorities, Attestations: s.Attestations, AttestationsOnly: s.Rules.AttestationsOnly}
	if p := s.Rules.Provenance; p != nil {
		req.Provenance = &verify.Provenance{SourceRepository: p.SourceRepository, SourceOwner: p.SourceOwner, SignerWorkflow: p.SignerWorkflow,
			SourceRef: p.SourceRef, DenySelfHostedRunners: p.DenySelfHostedRunners, PredicateType: p.PredicateType}
	}
	return req
}

// provenanceTally gathers what the verifier accepted as provenance on the
// digest and on each platform of an index.
type provenanceTally struct {
	on    bool
	o     policy.ProvenanceOutcome
	found []ProvenanceFound
}

func newProvenanceTally(s VerifySettings) *provenanceTally {
	return &provenanceTally{on: s.Rules.Provenance != nil}
}

func (t *provenanceTally) index(ctx context.Context, res *verify.Result, digest string) {
	if !t.on || res.Provenance == nil {
		return
	}
	t.o.Attestations = provenanceAttestations(res.Provenance)
	t.o.Reasons = res.Provenance.Reasons
	t.record(ctx, res.Provenance, digest, "")
}

func (t *provenanceTally) platform(ctx context.Context, label, platform string, res *verify.Result, digest string) {
	if !t.on || res.Provenance == nil {
		return
	}
	if t.o.PlatformAttestations == nil {
		t.o.PlatformAttestations = map[string][]policy.VerifiedAttestation{}
	}
	t.o.PlatformAttestations[label] = provenanceAttestations(res.Provenance)
	if len(res.Provenance.Attestations) == 0 {
		for _, r := range res.Provenance.Reasons {
			t.o.Reasons = append(t.o.Reasons, "on platform "+label+": "+r)
		}
	}
	t.record(ctx, res.Provenance, digest, platform)
}

// record keeps the facts of the newest accepted attestation on a digest.
func (t *provenanceTally) record(ctx context.Context, r *verify.AuthorityResult, digest, platform string) {
	tflog.SubsystemDebug(ctx, VerifyLogSubsystem, "provenance judged", map[string]any{
		"digest": digest, "platform": platform, "accepted": len(r.Attestations), "reasons": r.Reasons,
	})
	var newest *verify.Attestation
	for i := range r.Attestations {
		a := &r.Attestations[i]
		if a.Provenance != nil && (newest == nil || a.VerifiedTime.After(newest.VerifiedTime)) {
			newest = a
		}
	}
	if newest != nil {
		t.found = append(t.found, ProvenanceFound{Digest: digest, Platform: platform, Facts: *newest.Provenance})
	}
}

// judge evaluates the provenance rule; the facts come sorted by platform.
func (t *provenanceTally) judge(ctx context.Context, rules policy.VerifyRules) []policy.Violation {
	if !t.on || rules.Provenance == nil {
		return nil
	}
	sort.SliceStable(t.found, func(i, j int) bool { return t.found[i].Platform < t.found[j].Platform })
	return policy.EvaluateProvenance(ctx, t.o, *rules.Provenance, rules.Now)
}

func provenanceAttestations(r *verify.AuthorityResult) []policy.VerifiedAttestation {
	out := make([]policy.VerifiedAttestation, 0, len(r.Attestations))
	for _, a := range r.Attestations {
		out = append(out, policy.VerifiedAttestation{PredicateType: a.PredicateType, Predicate: a.Predicate, VerifiedTime: a.VerifiedTime})
	}
	return out
}

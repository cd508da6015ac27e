package verify

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// notationCandidate is one Notary Project signature found in a listing.
type notationCandidate struct {
	location, what string
	manifestDigest string
	envelopeType   string
	envelope       []byte
	// problem, when set, is why the signature cannot be verified at all.
	problem string
}

// onlyNotation reports whether every authority is a notation one: then no
// Sigstore trust material is needed.
func onlyNotation(auths []Authority) bool {
	for _, a := range auths {
		if a.Notation == nil {
			return false
		}
	}
	return len(auths) > 0
}

// needNotation reports whether a notation authority still lacks a signature.
func (r *run) needNotation() bool {
	for i, a := range r.auths {
		if a.notation != nil && len(r.results[i].Signatures) == 0 {
			return true
		}
	}
	return false
}

// notationReferrers examines the Notary Project signatures of a referrers
// listing (API or tag) for the notation authorities: every one, in digest
// order, until each authority has a signature. A listing with more than
// maxNotationSignatures of them is refused.
func (r *run) notationReferrers(descs []v1.Descriptor, loc string) error {
	if !r.needNotation() {
		return nil
	}
	var list []v1.Descriptor
	for _, d := range descs {
		if d.ArtifactType == NotationArtifactType {
			list = append(list, d)
		}
	}
	if len(list) > maxNotationSignatures {
		return fmt.Errorf("the %s of %s lists %d Notary Project signatures, more than the %d imageguard examines (as `notation verify --max-signatures` bounds them): "+
			"it refuses to judge part of them, since junk signatures could hide the real one. Delete the signatures of this digest that are no longer needed, or sign and deploy a fresh image",
			loc, r.target, len(list), maxNotationSignatures)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Digest.String() < list[j].Digest.String() })
	var target *ocispec.Descriptor
	for _, d := range list {
		key := "notation " + d.Digest.String()
		if r.seen[key] {
			continue
		}
		r.seen[key] = true
		c, err := r.fetchNotation(d, loc)
		if err != nil {
			return err
		}
		if c == nil {
			continue
		}
		if target == nil && c.problem == "" {
			t, err := r.targetDescriptor()
			if err != nil {
				return err
			}
			target = &t
		}
		for i, a := range r.auths {
			if a.notation == nil || len(r.results[i].Signatures) > 0 {
				continue
			}
			if c.problem != "" {
				r.sigReasons[i] = append(r.sigReasons[i], fmt.Sprintf("%s (%s)", c.problem, c.what))
				continue
			}
			sig, reason := r.verifyNotation(c, a, *target)
			if reason != "" {
				r.sigReasons[i] = append(r.sigReasons[i], fmt.Sprintf("%s (%s)", reason, c.what))
				continue
			}
			r.results[i].Signatures = append(r.results[i].Signatures, *sig)
		}
		if !r.needNotation() {
			break
		}
	}
	return nil
}

// targetDescriptor is the descriptor of the digest being verified (media
// type and size), which a Notary Project payload signs along with it.
func (r *run) targetDescriptor() (ocispec.Descriptor, error) {
	desc, err := r.v.puller.Get(r.ctx, r.target)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("reading the manifest of %s to check its Notary Project signatures: %w", r.target, err)
	}
	return ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: digest.Digest(desc.Digest.String()), Size: desc.Size}, nil
}

// fetchNotation reads a signature manifest and its envelope, within
// bounds. Content problems become the candidate's problem; registry
// failures are errors; a manifest that is not a Notary Project signature
// is nil.
func (r *run) fetchNotation(d v1.Descriptor, loc string) (*notationCandidate, error) {
	c := &notationCandidate{location: loc, manifestDigest: d.Digest.String(), what: fmt.Sprintf("Notary Project signature %s in %s", short(d.Digest), loc)}
	if d.Size > maxNotationManifest {
		c.problem = fmt.Sprintf("the signature manifest is listed as %d bytes, more than the %d allowed", d.Size, maxNotationManifest)
		return c, nil
	}
	repo := r.req.Repository
	desc, err := r.v.puller.Get(r.ctx, repo.Digest(d.Digest.String()))
	if err != nil {
		if isNotFound(err) {
			c.problem = "the signature manifest is listed but missing from the registry"
			return c, nil
		}
		return nil, fmt.Errorf("reading Notary Project signature %s of %s: %w", d.Digest, r.target, err)
	}
	if len(desc.Manifest) > maxNotationManifest {
		c.problem = fmt.Sprintf("the signature manifest is %d bytes, more than the %d allowed", len(desc.Manifest), maxNotationManifest)
		return c, nil
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		c.problem = fmt.Sprintf("the signature manifest does not parse: %v", err)
		return c, nil
	}
	if string(m.Config.MediaType) != NotationArtifactType && m.ArtifactType != NotationArtifactType {
		return nil, nil // labelled as one, but not a Notary Project signature
	}
	if m.Subject == nil || m.Subject.Digest != r.req.Digest {
		got := "none"
		if m.Subject != nil {
			got = m.Subject.Digest.String()
		}
		c.problem = fmt.Sprintf("signature for another digest: the signature manifest's subject is %s, not %s", got, r.req.Digest)
		return c, nil
	}
	if len(m.Layers) != 1 {
		c.problem = fmt.Sprintf("the signature manifest has %d layers; a Notary Project signature has exactly one envelope", len(m.Layers))
		return c, nil
	}
	layer := m.Layers[0]
	c.envelopeType = string(layer.MediaType)
	if c.envelopeType != jws.MediaTypeEnvelope && c.envelopeType != cose.MediaTypeEnvelope {
		c.problem = fmt.Sprintf("the signature envelope has media type %q; Notary Project envelopes are %s (JWS) or %s (COSE)", c.envelopeType, jws.MediaTypeEnvelope, cose.MediaTypeEnvelope)
		return c, nil
	}
	if layer.Size > maxNotationEnvelope {
		c.problem = fmt.Sprintf("the signature envelope is %d bytes, more than the %d allowed", layer.Size, maxNotationEnvelope)
		return c, nil
	}
	l, err := r.v.puller.Layer(r.ctx, repo.Digest(layer.Digest.String()))
	if err != nil {
		return nil, fmt.Errorf("reading Notary Project signature envelope %s of %s: %w", layer.Digest, r.target, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		if isNotFound(err) {
			c.problem = "the signature envelope is missing from the registry"
			return c, nil
		}
		return nil, fmt.Errorf("reading Notary Project signature envelope %s of %s: %w", layer.Digest, r.target, err)
	}
	raw, err := io.ReadAll(io.LimitReader(rc, maxNotationEnvelope+1))
	rc.Close()
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) {
			return nil, fmt.Errorf("reading Notary Project signature envelope %s of %s: %w", layer.Digest, r.target, err)
		}
		c.problem = fmt.Sprintf("integrity: the signature envelope does not match its digest %s (%v)", layer.Digest, err)
		return c, nil
	}
	if len(raw) > maxNotationEnvelope {
		c.problem = fmt.Sprintf("the signature envelope is more than the %d bytes allowed", maxNotationEnvelope)
		return c, nil
	}
	c.envelope = raw
	return c, nil
}

// finishNotation explains what a notation authority cannot give: Notary
// Project signatures carry no in-toto attestations.
func (r *run) finishNotation() {
	for i, a := range r.auths {
		if a.notation == nil || len(r.req.Attestations) == 0 {
			continue
		}
		r.results[i].Reasons = append(r.results[i].Reasons,
			"a notation authority verifies Notary Project image signatures only; attestations (attestation blocks) are checked for key and keyless authorities, so put them under a cosign authority")
	}
}

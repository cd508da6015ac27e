package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sigstore/cosign/v3/pkg/oci"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
)

const (
	locReferrersAPI = "referrers API"
	// maxBundleSize bounds a bundle blob.
	maxBundleSize = 16 << 20
	// bundleMediaTypePrefix starts every Sigstore bundle media type.
	bundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle"
	// predicateAnnotation is the (unsigned) predicate type cosign v3 writes
	// on a bundle referrer; used only to skip fetching what is not needed.
	predicateAnnotation = "dev.sigstore.bundle.predicateType"
)

// candidate is one signature or attestation found somewhere.
type candidate struct {
	format   string // "bundle" or "legacy"
	location string
	// what names it in reasons: "bundle sha256:… in referrers API".
	what string
	// hint is the unsigned predicate type (annotation or unverified
	// statement), used only to decide which reasons a failure belongs to.
	hint string

	bundle   *bundle.Bundle
	bundleOK string // non-empty: why the bundle could not be used at all

	legacy    oci.Signature
	legacyAtt bool
}

// outcome is a candidate that verified for an authority.
type outcome struct {
	predicateType  string // SignPredicateType for signatures
	issuer         string
	subject        string
	keyID          string
	predicate      json.RawMessage
	integratedTime time.Time
	verifiedTime   time.Time
	tlogIndex      int64
	// cert is the verified certificate's summary (keyless only).
	cert *certificate.Summary
}

// run is the state of one Verify call.
type run struct {
	v        *Verifier
	ctx      context.Context
	req      Request
	target   name.Digest
	tm       root.TrustedMaterial
	auths    []*authority
	results  []AuthorityResult
	searched []string

	sigReasons [][]string
	attReasons []map[string][]string
	seen       map[string]bool // referrer manifest digests already examined
}

// Verify looks for signatures and attestations of req.Digest and checks
// them against every authority. Places are tried in order (referrers API,
// referrers tag, legacy .sig, legacy .att) until every authority has a
// signature and every requested attestation, so a signed image costs three
// registry requests once the registry session is warm. An error means the
// verification could not be evaluated; "not verified" is in the Reasons.
func (v *Verifier) Verify(ctx context.Context, req Request) (*Result, error) {
	if len(req.Authorities) == 0 && req.Provenance == nil {
		return nil, errNoAuthorities
	}
	if req.AttestationsOnly && len(req.Attestations) == 0 && len(req.Authorities) > 0 {
		return nil, errors.New("an authority without a required signature (require_signature = false) needs an attestation to check: add an attestation block")
	}
	if req.Repository.RepositoryStr() == "" {
		return nil, errors.New("no repository to look for signatures in")
	}
	if req.Digest.Algorithm == "" || req.Digest.Hex == "" {
		return nil, errors.New("no digest to verify")
	}
	r := &run{v: v, ctx: ctx, req: req, target: req.Repository.Digest(req.Digest.String()), seen: map[string]bool{}}
	needTrust := v.tlogRequired && !onlyNotation(req.Authorities)
	for i, a := range req.Authorities {
		pa, err := prepareAuthority(a, i)
		if err != nil {
			return nil, err
		}
		if pa.kmsRef != "" {
			if pa.key, err = v.kmsKey(ctx, pa.kmsRef); err != nil {
				return nil, fmt.Errorf("authority %q: %w", pa.name, err)
			}
		}
		needTrust = needTrust || pa.keyless != nil || (v.tlogRequired && pa.notation == nil)
		pa.needsSig = !req.AttestationsOnly
		for _, at := range req.Attestations {
			pa.types = append(pa.types, at.PredicateType)
		}
		r.add(pa)
	}
	for _, at := range req.Attestations {
		if at.PredicateType == "" {
			return nil, errors.New("an attestation request has no predicate type")
		}
	}
	if req.Provenance != nil {
		pc, err := prepareProvenance(*req.Provenance)
		if err != nil {
			return nil, err
		}
		needTrust = true
		r.add(pc.authority())
	}
	if needTrust {
		tm, err := v.trustedMaterial()
		if err != nil {
			return nil, err
		}
		r.tm = tm
	}

	tagBase := req.Digest.Algorithm + "-" + req.Digest.Hex
	steps := []struct {
		needed func() bool
		look   func() error
	}{
		{r.needAny, r.referrersAPI},
		{r.needAny, func() error { return r.referrersTag(tagBase) }},
		{r.needSignature, func() error { return r.legacyTag(tagBase+".sig", false) }},
		{r.needAnyAttestation, func() error { return r.legacyTag(tagBase+".att", true) }},
	}
	for _, s := range steps {
		if !s.needed() {
			continue
		}
		if err := s.look(); err != nil {
			return nil, err
		}
	}
	r.finish()
	r.finishNotation()
	out := &Result{Authorities: r.results, Searched: r.searched}
	if req.Provenance != nil {
		n := len(r.results) - 1
		out.Authorities, out.Provenance = r.results[:n], &r.results[n]
	}
	return out, nil
}

// add prepares the bookkeeping of one authority.
func (r *run) add(pa *authority) {
	r.auths = append(r.auths, pa)
	r.results = append(r.results, AuthorityResult{Authority: pa.name})
	r.sigReasons = append(r.sigReasons, nil)
	r.attReasons = append(r.attReasons, map[string][]string{})
}

func (r *run) needSignature() bool {
	for i, a := range r.results {
		if r.auths[i].needsSig && len(a.Signatures) == 0 {
			return true
		}
	}
	return false
}

func (r *run) needAttestation(i int, t string) bool {
	for _, at := range r.results[i].Attestations {
		if at.PredicateType == t {
			return false
		}
	}
	return true
}

func (r *run) needAnyAttestation() bool {
	for i := range r.results {
		for _, t := range r.auths[i].types {
			if r.needAttestation(i, t) {
				return true
			}
		}
	}
	return false
}

// wantsAttestations reports whether any authority asks for attestations.
func (r *run) wantsAttestations() bool {
	for _, a := range r.auths {
		if len(a.types) > 0 {
			return true
		}
	}
	return false
}

func (r *run) needAny() bool { return r.needSignature() || r.needAnyAttestation() }

// done reports whether the rest of a location can be skipped: every
// authority has a signature and no attestation is requested. With
// attestations requested, every one of a requested type at the location is
// verified, since the newest by verified time is judged and which one that
// is shows only once verified.
func (r *run) done() bool { return !r.needAny() && !r.wantsAttestations() }

// wanted reports whether a candidate with this (unsigned) predicate type
// could still help authority i; "" means unknown, so yes.
func (r *run) wanted(i int, predicateType string) bool {
	if predicateType == "" {
		return true
	}
	if predicateType == SignPredicateType {
		return r.auths[i].needsSig && len(r.results[i].Signatures) == 0
	}
	// Every attestation of a requested type found where the search is is
	// verified, not only the first: a condition holds when any of them
	// satisfies it, and which one comes first is the registry's order.
	for _, t := range r.auths[i].types {
		if t == predicateType {
			return true
		}
	}
	return false
}

func (r *run) wantedByAny(predicateType string) bool {
	for i := range r.auths {
		if r.wanted(i, predicateType) {
			return true
		}
	}
	return false
}

// referrersAPI lists referrers through the OCI 1.1 API. A registry without
// it (404/400/406) is not an error: the referrers tag is tried next.
func (r *run) referrersAPI() error {
	r.searched = append(r.searched, locReferrersAPI)
	idx, err := remote.Referrers(r.target, remote.Reuse(r.v.puller), remote.WithContext(r.ctx))
	if err != nil {
		// With the tag fallback switched off, go-containerregistry reports a
		// 404/400/406 from the API as this (untyped) error.
		var terr *transport.Error
		if !errors.As(err, &terr) && strings.Contains(err.Error(), "does not support the Referrers API") {
			return nil
		}
		return r.referrersListingError(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("listing referrers of %s: %w", r.target, err)
	}
	return r.referrers(m.Manifests, locReferrersAPI)
}

// referrersTag reads the referrers tag schema's index (`sha256-<hex>`),
// what clients maintain on registries without the referrers API.
func (r *run) referrersTag(tag string) error {
	loc := "referrers tag " + tag
	r.searched = append(r.searched, loc)
	desc, err := r.v.puller.Get(r.ctx, r.req.Repository.Tag(tag))
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("reading referrers tag %s:%s: %w", r.req.Repository, tag, err)
	}
	if !desc.MediaType.IsIndex() {
		return nil // not a referrers index; cosign's legacy tags have suffixes
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil
	}
	return r.referrers(m.Manifests, loc)
}

// referrers examines bundle referrers, fetching only those that can still
// help some authority. Every one is examined, in digest order: registry
// order and annotations such as org.opencontainers.image.created are claims
// anyone with push rights writes, so they choose nothing. (Attestations of
// one type are ordered by their verified time once verified; see
// policy.AttestationRule.) A listing past maxReferrers is an error.
func (r *run) referrers(descs []v1.Descriptor, loc string) error {
	if len(descs) > maxReferrers {
		return r.tooManyReferrers(loc)
	}
	if err := r.notationReferrers(descs, loc); err != nil {
		return err
	}
	var list []v1.Descriptor
	for _, d := range descs {
		at := d.ArtifactType
		// go-containerregistry's registry reports the config media type
		// (application/vnd.oci.empty.v1+json) instead of the artifactType.
		if at != "" && !strings.HasPrefix(at, bundleMediaTypePrefix) && at != "application/vnd.oci.empty.v1+json" {
			continue
		}
		list = append(list, d)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Digest.String() < list[j].Digest.String() })
	for _, d := range list {
		if r.seen[d.Digest.String()] {
			continue
		}
		hint := d.Annotations[predicateAnnotation]
		if !r.wantedByAny(hint) {
			continue
		}
		r.seen[d.Digest.String()] = true
		c, err := r.fetchBundle(d, loc, hint)
		if err != nil {
			return err
		}
		if c != nil {
			r.evaluate(c)
		}
		if r.done() {
			break
		}
	}
	return nil
}

// fetchBundle reads a referrer manifest and its bundle layer. Content
// problems become the candidate's reason; registry failures are errors.
func (r *run) fetchBundle(d v1.Descriptor, loc, hint string) (*candidate, error) {
	c := &candidate{format: "bundle", location: loc, hint: hint, what: fmt.Sprintf("bundle %s in %s", short(d.Digest), loc)}
	repo := r.req.Repository
	desc, err := r.v.puller.Get(r.ctx, repo.Digest(d.Digest.String()))
	if err != nil {
		if isNotFound(err) {
			c.bundleOK = "the referrer manifest is listed but missing from the registry"
			return c, nil
		}
		return nil, fmt.Errorf("reading referrer %s of %s: %w", d.Digest, r.target, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		c.bundleOK = fmt.Sprintf("the referrer manifest does not parse: %v", err)
		return c, nil
	}
	if m.Subject == nil || m.Subject.Digest != r.req.Digest {
		got := "none"
		if m.Subject != nil {
			got = m.Subject.Digest.String()
		}
		c.bundleOK = fmt.Sprintf("the referrer manifest's subject is %s, not %s", got, r.req.Digest)
		return c, nil
	}
	var layer *v1.Descriptor
	for i := range m.Layers {
		if strings.HasPrefix(string(m.Layers[i].MediaType), bundleMediaTypePrefix) {
			layer = &m.Layers[i]
			break
		}
	}
	if layer == nil {
		return nil, nil // some other artifact: not ours to judge
	}
	if layer.Size > maxBundleSize {
		c.bundleOK = fmt.Sprintf("the bundle is %d bytes, more than the %d allowed", layer.Size, maxBundleSize)
		return c, nil
	}
	l, err := r.v.puller.Layer(r.ctx, repo.Digest(layer.Digest.String()))
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s of %s: %w", layer.Digest, r.target, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s of %s: %w", layer.Digest, r.target, err)
	}
	raw, err := io.ReadAll(io.LimitReader(rc, maxBundleSize+1))
	rc.Close()
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) {
			return nil, fmt.Errorf("reading bundle %s of %s: %w", layer.Digest, r.target, err)
		}
		c.bundleOK = fmt.Sprintf("bundle is tampered: the blob does not match its digest %s (%v)", layer.Digest, err)
		return c, nil
	}
	b := &bundle.Bundle{Bundle: new(protobundle.Bundle)}
	if err := b.UnmarshalJSON(raw); err != nil {
		c.bundleOK = fmt.Sprintf("bundle is tampered or malformed: it does not parse as a Sigstore bundle: %v", err)
		return c, nil
	}
	if !b.MinVersion("v0.3") {
		c.bundleOK = "the bundle's version is older than v0.3, which cosign v3 does not write"
		return c, nil
	}
	c.bundle = b
	if c.hint == "" {
		c.hint = unverifiedPredicateType(b)
	}
	return c, nil
}

// legacyTag reads cosign's `sha256-<hex>.sig` or `.att` image: one
// signature or attestation per layer.
func (r *run) legacyTag(tag string, att bool) error {
	loc := "legacy tag " + tag
	r.searched = append(r.searched, loc)
	ref := r.req.Repository.Tag(tag)
	sigs, err := ociremote.Signatures(ref, ociremote.WithRemoteOptions(remote.Reuse(r.v.puller), remote.WithContext(r.ctx)))
	if err != nil {
		return fmt.Errorf("reading %s: %w", ref, err)
	}
	list, err := sigs.Get()
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) {
			return fmt.Errorf("reading %s: %w", ref, err)
		}
		for i := range r.auths {
			r.addReason(i, &candidate{legacyAtt: att, what: loc}, "the tag does not hold cosign signatures: "+err.Error())
		}
		return nil
	}
	if len(list) > maxReferrers {
		return r.tooManyReferrers(loc)
	}
	kind := "signature"
	if att {
		kind = "attestation"
	}
	for i, s := range list {
		c := &candidate{format: "legacy", location: loc, legacy: &onceSignature{legacySignature: s}, legacyAtt: att, what: fmt.Sprintf("legacy %s %d of %d in %s", kind, i+1, len(list), loc)}
		if att {
			if a, _ := s.Annotations(); a != nil {
				c.hint = a["predicateType"]
			}
		} else {
			c.hint = SignPredicateType
		}
		if !r.wantedByAny(c.hint) {
			continue
		}
		r.evaluate(c)
		if r.done() {
			break
		}
	}
	return nil
}

// evaluate checks one candidate against every authority that can still use it.
func (r *run) evaluate(c *candidate) {
	for i, a := range r.auths {
		if a.notation != nil || !r.wanted(i, c.hint) {
			continue // a notation authority judges Notary Project signatures only
		}
		if c.bundleOK != "" {
			r.addReason(i, c, c.bundleOK)
			continue
		}
		var out *outcome
		var reason string
		if c.format == "bundle" {
			out, reason = r.verifyBundle(c, a)
		} else {
			out, reason = r.verifyLegacy(c, a)
		}
		if reason != "" {
			r.addReason(i, c, reason)
			continue
		}
		if out.predicateType == SignPredicateType && !c.legacyAtt {
			if !a.needsSig {
				continue
			}
			r.results[i].Signatures = append(r.results[i].Signatures, Signature{
				Authority: a.name, Issuer: out.issuer, Subject: out.subject, KeyID: out.keyID,
				Format: c.format, Location: c.location, IntegratedTime: out.integratedTime, VerifiedTime: out.verifiedTime, TLogIndex: out.tlogIndex,
			})
			continue
		}
		var facts *ProvenanceFacts
		if a.prov != nil && out.cert != nil {
			builder, reason := a.prov.checkPredicate(out.predicate, *out.cert)
			if reason != "" {
				r.addReason(i, c, reason)
				continue
			}
			facts = factsOf(*out.cert, builder, out.verifiedTime)
		}
		matched := false
		for _, t := range a.types {
			if t == out.predicateType {
				r.results[i].Attestations = append(r.results[i].Attestations, Attestation{
					PredicateType: out.predicateType, Authority: a.name, Subject: out.subject, Issuer: out.issuer, KeyID: out.keyID,
					Format: c.format, Location: c.location, Predicate: out.predicate, IntegratedTime: out.integratedTime, VerifiedTime: out.verifiedTime, TLogIndex: out.tlogIndex,
					Provenance: facts,
				})
				matched = true
				break
			}
		}
		if !matched && c.hint != "" && c.hint != out.predicateType {
			// Labelled as one type, signed as another: the label is a claim.
			r.addReason(i, c, fmt.Sprintf("the signed statement's predicate type is %s, not %s as its label says", orNone(out.predicateType), c.hint))
		}
	}
}

// addReason files a failure under what the candidate claims to be.
func (r *run) addReason(i int, c *candidate, reason string) {
	msg := fmt.Sprintf("%s (%s)", reason, c.what)
	if r.auths[i].needsSig && !c.legacyAtt && (c.hint == "" || c.hint == SignPredicateType) {
		r.sigReasons[i] = append(r.sigReasons[i], msg)
		return
	}
	for _, t := range r.auths[i].types {
		if c.hint == "" || c.hint == t {
			r.attReasons[i][t] = append(r.attReasons[i][t], msg)
		}
	}
}

// finish writes the reasons of every authority that is not satisfied.
func (r *run) finish() {
	looked := strings.Join(r.searched, ", ")
	for i := range r.results {
		res := &r.results[i]
		if r.auths[i].needsSig && len(res.Signatures) == 0 {
			if len(r.sigReasons[i]) == 0 {
				res.Reasons = append(res.Reasons, fmt.Sprintf("no signature found (looked in: %s)", looked))
			}
			res.Reasons = append(res.Reasons, capReasons(r.sigReasons[i])...)
		}
		for _, t := range r.auths[i].types {
			if !r.needAttestation(i, t) {
				continue
			}
			res.Reasons = append(res.Reasons, fmt.Sprintf("attestation of type %s missing (looked in: %s)", t, looked))
			res.Reasons = append(res.Reasons, capReasons(r.attReasons[i][t])...)
		}
	}
}

// maxReasons bounds the reasons listed per requirement: a flood of junk
// referrers would otherwise bury the message.
const maxReasons = 10

func capReasons(reasons []string) []string {
	if len(reasons) <= maxReasons {
		return reasons
	}
	return append(reasons[:maxReasons:maxReasons], fmt.Sprintf("and %d more candidates that did not verify", len(reasons)-maxReasons))
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

func short(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return h.String()
}

// legacySignature names the embedded interface (its own Signature method
// would clash with an embedded field of that name).
type legacySignature = oci.Signature

// onceSignature reads a legacy signature's payload once: cosign's layer
// downloads it again on every Payload() call, and verification asks twice.
type onceSignature struct {
	legacySignature
	once    sync.Once
	payload []byte
	err     error
}

func (s *onceSignature) Payload() ([]byte, error) {
	s.once.Do(func() { s.payload, s.err = s.legacySignature.Payload() })
	return s.payload, s.err
}

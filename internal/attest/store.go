package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Referrer annotations, as cosign v3 writes them on a bundle referrer.
const (
	AnnotationCreated       = "org.opencontainers.image.created"
	AnnotationContent       = "dev.sigstore.bundle.content"
	AnnotationPredicateType = "dev.sigstore.bundle.predicateType"
)

// Where an attestation is stored.
const (
	LocationReferrersAPI = "referrers API"
	// LocationReferrersTag is followed by the tag, e.g. "referrers tag sha256-…".
	LocationReferrersTag = "referrers tag"
)

// emptyConfigMediaType is the OCI empty descriptor's media type: an
// artifact manifest's config that holds nothing ("{}").
const emptyConfigMediaType types.MediaType = "application/vnd.oci.empty.v1+json"

// Store attaches, finds and deletes attestations in one repository.
type Store struct {
	Repository name.Repository
	// Options carry credentials, transport and retries (internal/registry).
	Options []remote.Option
}

// Attached is one stored attestation.
type Attached struct {
	// Digest is the referrer manifest's digest.
	Digest        v1.Hash
	PredicateType string
	Created       time.Time
	// Location is LocationReferrersAPI, or "referrers tag sha256-<hex>" on a
	// registry without the referrers API.
	Location string
}

// referrerManifest is an OCI 1.1 image manifest with artifactType, which
// go-containerregistry's v1.Manifest lacks.
type referrerManifest struct {
	v1.Manifest
	ArtifactType string `json:"artifactType,omitempty"`
}

type rawManifest struct {
	raw []byte
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (s Store) opts(ctx context.Context) []remote.Option {
	return append(append([]remote.Option{}, s.Options...), remote.WithContext(ctx))
}

// apiOpts ask the referrers API alone: no tag fallback, and no shared puller
// (remote.Reuse), whose own options would turn the fallback back on.
func (s Store) apiOpts(ctx context.Context) []remote.Option {
	return append(s.opts(ctx), remote.Reuse((*remote.Puller)(nil)), remote.WithReferrersTagFallback(false))
}

// Bundle is a signed bundle and the predicate type it attests.
type Bundle struct {
	JSON          []byte
	PredicateType string
}

// Attach stores a bundle as a referrer of subject, as cosign v3's `attest`
// does: an OCI image manifest with artifactType and layer media type the
// bundle's, the empty config, subject = the image, and the predicate type
// and creation time as annotations. On a registry without the referrers API
// go-containerregistry adds it to the `sha256-<hex>` referrers tag index,
// which internal/verify and cosign read there.
func (s Store) Attach(ctx context.Context, subject v1.Descriptor, bundle []byte, predicateType string, created time.Time) (*Attached, error) {
	out, err := s.AttachAll(ctx, subject, []Bundle{{JSON: bundle, PredicateType: predicateType}}, created)
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// AttachAll attaches bundles in order, as Attach does, over one registry
// session (one push session, one look at the referrers API). On an error
// it returns what was attached before it.
func (s Store) AttachAll(ctx context.Context, subject v1.Descriptor, bundles []Bundle, created time.Time) ([]Attached, error) {
	api, err := s.hasReferrersAPI(ctx, subject.Digest)
	if err != nil {
		return nil, err
	}
	pusher, err := remote.NewPusher(s.opts(ctx)...)
	if err != nil {
		return nil, err
	}
	opts := append(s.opts(ctx), remote.Reuse(pusher))
	location := LocationReferrersAPI
	if !api {
		location = LocationReferrersTag + " " + fallbackTag(subject.Digest)
	}
	created = created.UTC().Truncate(time.Second)
	cfg := static.NewLayer([]byte("{}"), emptyConfigMediaType)
	var out []Attached
	for i, b := range bundles {
		layers := []v1.Layer{static.NewLayer(b.JSON, BundleMediaType)}
		if i == 0 {
			layers = append([]v1.Layer{cfg}, layers...)
		}
		for _, l := range layers {
			if err := remote.WriteLayer(s.Repository, l, opts...); err != nil {
				return out, fmt.Errorf("uploading to %s: %w", s.Repository, err)
			}
		}
		raw, err := referrerManifestFor(subject, cfg, layers[len(layers)-1], b.PredicateType, created)
		if err != nil {
			return out, err
		}
		digest, _, err := v1.SHA256(bytes.NewReader(raw))
		if err != nil {
			return out, err
		}
		if err := remote.Put(s.Repository.Digest(digest.String()), rawManifest{raw}, opts...); err != nil {
			return out, fmt.Errorf("writing the referrer manifest to %s: %w", s.Repository, err)
		}
		out = append(out, Attached{Digest: digest, PredicateType: b.PredicateType, Created: created, Location: location})
	}
	return out, nil
}

// referrerManifestFor is the referrer manifest of one bundle layer.
func referrerManifestFor(subject v1.Descriptor, cfg, layer v1.Layer, predicateType string, created time.Time) ([]byte, error) {
	var descs []v1.Descriptor
	for _, l := range []v1.Layer{cfg, layer} {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		size, err := l.Size()
		if err != nil {
			return nil, err
		}
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		descs = append(descs, v1.Descriptor{MediaType: mt, Digest: d, Size: size})
	}
	descs[0].ArtifactType = BundleMediaType // where cosign v3 also puts it
	return json.Marshal(referrerManifest{Manifest: v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        descs[0],
		Layers:        descs[1:],
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{
			AnnotationCreated:       created.Format(time.RFC3339),
			AnnotationContent:       "dsse-envelope",
			AnnotationPredicateType: predicateType,
		},
	}, ArtifactType: BundleMediaType})
}

// fallbackTag is the referrers tag schema's tag for a digest.
func fallbackTag(d v1.Hash) string { return d.Algorithm + "-" + d.Hex }

// hasReferrersAPI asks the registry whether it serves the referrers API for
// subject: 404, 400 or 406 mean no (distribution 2.8, Debian's
// docker-registry).
func (s Store) hasReferrersAPI(ctx context.Context, subject v1.Hash) (bool, error) {
	_, err := remote.Referrers(s.Repository.Digest(subject.String()), s.apiOpts(ctx)...)
	if err == nil {
		return true, nil
	}
	var terr *transport.Error
	if !errors.As(err, &terr) && strings.Contains(err.Error(), "does not support the Referrers API") {
		return false, nil
	}
	return false, fmt.Errorf("listing the referrers of %s@%s: %w", s.Repository, subject, err)
}

// Find lists the bundle referrers of subject with one of predicateTypes,
// newest first, wherever cosign v3 puts them (referrers API, else the
// referrers tag). The predicate type is the referrer's (unsigned)
// annotation: Find locates, internal/verify judges.
func (s Store) Find(ctx context.Context, subject v1.Hash, predicateTypes []string) ([]Attached, error) {
	api, err := s.hasReferrersAPI(ctx, subject)
	if err != nil {
		return nil, err
	}
	var descs []v1.Descriptor
	loc := LocationReferrersAPI
	if api {
		idx, err := remote.Referrers(s.Repository.Digest(subject.String()), s.apiOpts(ctx)...)
		if err != nil {
			return nil, fmt.Errorf("listing the referrers of %s@%s: %w", s.Repository, subject, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		descs = m.Manifests
	} else {
		loc = LocationReferrersTag + " " + fallbackTag(subject)
		m, err := s.tagIndex(ctx, subject)
		if err != nil {
			return nil, err
		}
		if m != nil {
			descs = m.Manifests
		}
	}
	want := map[string]bool{}
	for _, t := range predicateTypes {
		want[t] = true
	}
	var out []Attached
	for _, d := range descs {
		pt := d.Annotations[AnnotationPredicateType]
		if !want[pt] {
			continue
		}
		if d.ArtifactType != "" && d.ArtifactType != BundleMediaType && d.ArtifactType != string(emptyConfigMediaType) {
			continue
		}
		created, _ := time.Parse(time.RFC3339, d.Annotations[AnnotationCreated])
		out = append(out, Attached{Digest: d.Digest, PredicateType: pt, Created: created, Location: loc})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].Digest.String() < out[j].Digest.String()
	})
	return out, nil
}

// Exists reports whether a referrer manifest is still in the registry.
func (s Store) Exists(ctx context.Context, d v1.Hash) (bool, error) {
	_, err := remote.Head(s.Repository.Digest(d.String()), s.opts(ctx)...)
	if err == nil {
		return true, nil
	}
	if statusOf(err) == http.StatusNotFound {
		return false, nil
	}
	return false, fmt.Errorf("reading %s@%s: %w", s.Repository, d, err)
}

// Delete removes referrer manifests of subject and their entries in the
// referrers tag index, if the registry keeps one. What is already gone is
// not an error. A registry that refuses deletes (distribution without
// storage.delete.enabled) is.
func (s Store) Delete(ctx context.Context, subject v1.Hash, digests []v1.Hash) error {
	for _, d := range digests {
		err := remote.Delete(s.Repository.Digest(d.String()), s.opts(ctx)...)
		if err == nil || statusOf(err) == http.StatusNotFound {
			continue
		}
		if st := statusOf(err); st == http.StatusMethodNotAllowed || st == http.StatusUnsupportedMediaType || hasCode(err, transport.UnsupportedErrorCode) {
			return fmt.Errorf("the registry refuses to delete %s@%s (%v): enable deletes (distribution: storage.delete.enabled), or keep the attestation with delete_on_destroy = false", s.Repository, d, err)
		}
		return fmt.Errorf("deleting %s@%s: %w", s.Repository, d, err)
	}
	m, err := s.tagIndex(ctx, subject)
	if err != nil || m == nil {
		return err
	}
	gone := map[v1.Hash]bool{}
	for _, d := range digests {
		gone[d] = true
	}
	kept := m.Manifests[:0:0]
	for _, d := range m.Manifests {
		if !gone[d.Digest] {
			kept = append(kept, d)
		}
	}
	if len(kept) == len(m.Manifests) {
		return nil
	}
	m.Manifests = kept
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tag := s.Repository.Tag(fallbackTag(subject))
	if err := remote.Put(tag, rawIndex{raw}, s.opts(ctx)...); err != nil {
		return fmt.Errorf("updating the referrers tag %s: %w", tag, err)
	}
	return nil
}

type rawIndex struct{ raw []byte }

func (m rawIndex) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }

// tagIndex reads the referrers tag index of subject; nil when there is none.
func (s Store) tagIndex(ctx context.Context, subject v1.Hash) (*v1.IndexManifest, error) {
	tag := s.Repository.Tag(fallbackTag(subject))
	desc, err := remote.Get(tag, s.opts(ctx)...)
	if err != nil {
		if statusOf(err) == http.StatusNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("reading the referrers tag %s: %w", tag, err)
	}
	if !desc.MediaType.IsIndex() {
		return nil, fmt.Errorf("the referrers tag %s holds a %s, not an image index: something else uses the tag", tag, desc.MediaType)
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("the referrers tag %s does not parse: %w", tag, err)
	}
	return m, nil
}

func statusOf(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	return 0
}

func hasCode(err error, code transport.ErrorCode) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	for _, d := range terr.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

package registry

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// maxIndexDepth is how many levels of nested indexes the walk follows
	// below the reference's own index.
	maxIndexDepth = 4
	// maxIndexEntries bounds the entries one walk visits, nested indexes
	// included, so that a hostile index cannot make a plan fetch without end.
	maxIndexEntries = 1024

	// annotationReferenceType marks BuildKit's attestation manifests. It is
	// a claim anyone with push rights can write and no runtime reads, so it
	// only labels an entry in logs: the platform decides (isAttestation).
	annotationReferenceType = "vnd.docker.reference.type"
	attestationManifest     = "attestation-manifest"
)

// indexSource is what the walk reads from the registry. The client is one;
// tests give fakes for shapes a content-addressed registry cannot hold.
type indexSource interface {
	// nestedIndex returns a nested index, verified against its digest.
	nestedIndex(ctx context.Context, d v1.Hash) (*v1.IndexManifest, error)
	// configPlatform reads an image's platform from its config, as a
	// runtime does for an index entry without a platform.
	configPlatform(ctx context.Context, d v1.Hash) (*v1.Platform, error)
}

// walkIndex lists every image of r's index that a runtime could run, as
// containerd and docker see it: entries with a platform as they are,
// entries without one by their config's os and architecture (the only blobs
// the walk fetches), nested indexes followed. Entries on the platform
// unknown/unknown (BuildKit's attestation manifests), which no runtime ever
// selects, are skipped and counted; whatever their annotations claim, all
// others are judged. Any entry it cannot classify is an error, because an
// entry that is not judged must not pass.
func (c *Client) walkIndex(ctx context.Context, r *Resolved) error {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(r.Manifest))
	if err != nil {
		return &Error{Kind: KindServer, Ref: r.Ref.Input, Registry: r.Ref.Registry(), Err: err,
			Message: fmt.Sprintf("The index of %s (%s) does not parse: %v", r.Ref.Input, r.Digest, err)}
	}
	w := newIndexWalk(clientIndexSource{c: c, ref: r.Ref}, r.Ref, r.Digest)
	if err := w.walk(ctx, r.Digest, idx, 0); err != nil {
		return err
	}
	r.Platforms, r.Attestations = w.result()
	tflog.SubsystemDebug(ctx, LogSubsystem, "index walked", map[string]any{
		"repository": r.Ref.Repository.Name(), "digest": r.Digest.String(), "platforms": len(r.Platforms),
		"attestations_skipped": len(r.Attestations), "nested_indexes": len(w.walked), "platforms_from_config": w.fromConfig,
	})
	return nil
}

// indexWalk is the state of one walk.
type indexWalk struct {
	src  indexSource
	ref  Reference
	root v1.Hash

	onPath       map[v1.Hash]bool // indexes being walked: the way back to the root
	walked       map[v1.Hash]bool // nested indexes walked already (a diamond is walked once)
	listed       map[string]bool  // platform@digest already listed
	entries      int
	fromConfig   int
	platforms    []PlatformManifest
	attestations []v1.Hash
}

func newIndexWalk(src indexSource, ref Reference, root v1.Hash) *indexWalk {
	return &indexWalk{src: src, ref: ref, root: root, onPath: map[v1.Hash]bool{}, walked: map[v1.Hash]bool{}, listed: map[string]bool{}}
}

// result is the walked platforms sorted by platform (the index's order kept
// among entries for the same platform) and the skipped attestations.
func (w *indexWalk) result() ([]PlatformManifest, []v1.Hash) {
	sort.SliceStable(w.platforms, func(i, j int) bool { return w.platforms[i].Platform < w.platforms[j].Platform })
	return w.platforms, w.attestations
}

func (w *indexWalk) walk(ctx context.Context, d v1.Hash, idx *v1.IndexManifest, depth int) error {
	w.onPath[d] = true
	defer delete(w.onPath, d)
	for _, m := range idx.Manifests {
		w.entries++
		if w.entries > maxIndexEntries {
			return w.errorf(d, nil, "lists more than %d manifests (nested indexes included). imageguard stops there rather than judge part of it; split the index.", maxIndexEntries)
		}
		switch {
		case isAttestation(m):
			w.attestations = append(w.attestations, m.Digest)
			tflog.SubsystemDebug(ctx, LogSubsystem, "attestation manifest skipped", map[string]any{"repository": w.ref.Repository.Name(), "index": d.String(), "digest": m.Digest.String()})
		case m.MediaType.IsIndex():
			if err := w.nested(ctx, d, m, depth); err != nil {
				return err
			}
		case m.MediaType.IsImage():
			if err := w.image(ctx, d, m); err != nil {
				return err
			}
		default:
			return w.errorf(d, nil, "lists %s with media type %q, which is neither an image nor an index. imageguard judges every manifest a runtime could run and cannot classify this one, so the index cannot pass. "+
				"Remove the entry from the index, or give it a standard image media type and a `platform`.", m.Digest, m.MediaType)
		}
	}
	return nil
}

func (w *indexWalk) nested(ctx context.Context, parent v1.Hash, m v1.Descriptor, depth int) error {
	switch {
	case w.onPath[m.Digest]:
		return w.errorf(parent, nil, "lists the index %s, which contains itself: the registry serves a cycle that no content-addressed index can form. Check the registry.", m.Digest)
	case w.walked[m.Digest]:
		return nil // its images are listed already
	case depth+1 > maxIndexDepth:
		return w.errorf(parent, nil, "nests the index %s more than %d levels deep. imageguard follows nested indexes only that far and will not pass what it did not walk; flatten the index.", m.Digest, maxIndexDepth)
	}
	w.walked[m.Digest] = true
	child, err := w.src.nestedIndex(ctx, m.Digest)
	if err != nil {
		return w.errorf(parent, err, "lists the nested index %s, which could not be read: %v. Every image it lists must be judged, so the index cannot pass; check the registry and the index.", m.Digest, err)
	}
	return w.walk(ctx, m.Digest, child, depth+1)
}

func (w *indexWalk) image(ctx context.Context, parent v1.Hash, m v1.Descriptor) error {
	p := m.Platform
	if p == nil || p.OS == "" || p.Architecture == "" {
		var err error
		p, err = w.src.configPlatform(ctx, m.Digest)
		if err != nil {
			return w.errorf(parent, err, "lists %s without a platform, and its platform could not be read from its config: %v. A runtime picks such an entry by its config's os and architecture, "+
				"so imageguard must judge it and cannot pass the index%s. Give the entry a `platform` in the index (`unknown/unknown` for an attestation manifest, as BuildKit does), or remove it.", m.Digest, err, claimNote(m))
		}
		w.fromConfig++
		tflog.SubsystemDebug(ctx, LogSubsystem, "platform read from config", map[string]any{"repository": w.ref.Repository.Name(), "digest": m.Digest.String(), "platform": platformString(p)})
		if isUnknownPlatform(p) {
			// Its config names no runnable platform: no runtime selects it.
			w.attestations = append(w.attestations, m.Digest)
			return nil
		}
	}
	if m.Annotations[annotationReferenceType] == attestationManifest {
		// Claims to be an attestation on a platform a runtime runs: judged.
		tflog.SubsystemDebug(ctx, LogSubsystem, "entry annotated as an attestation is on a runnable platform: judged as an image", map[string]any{"repository": w.ref.Repository.Name(), "digest": m.Digest.String(), "platform": platformString(p)})
	}
	pm := PlatformManifest{Platform: platformString(p), Digest: m.Digest, Size: m.Size, Index: parent}
	if key := pm.Platform + "@" + pm.Digest.String(); !w.listed[key] {
		w.listed[key] = true
		w.platforms = append(w.platforms, pm)
	}
	return nil
}

// errorf builds the walk's error, a KindServer one: it names the
// reference, the index that holds the entry and, through format, the entry.
// A registry error keeps its kind (unreachable, denied, ...).
func (w *indexWalk) errorf(at v1.Hash, cause error, format string, args ...any) *Error {
	kind := KindServer
	if k := KindOf(cause); k != KindInternal && k != KindMalformed {
		kind = k
	}
	where := fmt.Sprintf("The index %s (%s)", w.ref.Input, w.root)
	if at != w.root {
		where += fmt.Sprintf(" nests the index %s, which", at)
	}
	return &Error{Kind: kind, Ref: w.ref.Input, Registry: w.ref.Registry(), Err: cause, Message: where + " " + fmt.Sprintf(format, args...)}
}

// isAttestation recognises BuildKit's attestation manifests by what a
// runtime acts on: the platform "unknown/unknown" BuildKit gives them, which
// containerd and CRI-O never select. An annotation alone is a claim anyone
// with push rights can write; such an entry is judged like any image.
func isAttestation(d v1.Descriptor) bool {
	return d.Platform != nil && isUnknownPlatform(d.Platform)
}

func isUnknownPlatform(p *v1.Platform) bool {
	return p.OS == "unknown" && p.Architecture == "unknown"
}

// claimNote adds, for an entry annotated as an attestation, why that
// annotation did not make it skipped.
func claimNote(d v1.Descriptor) string {
	if d.Annotations[annotationReferenceType] != attestationManifest {
		return ""
	}
	return " (it is annotated as an attestation manifest, but runtimes choose entries by platform and never read that annotation)"
}

// clientIndexSource reads nested indexes and configs through the client's
// memos, so an image whose platform came from its config is not fetched
// again when it is judged.
type clientIndexSource struct {
	c   *Client
	ref Reference
}

func (s clientIndexSource) nestedIndex(ctx context.Context, d v1.Hash) (*v1.IndexManifest, error) {
	body, err := s.c.manifest(ctx, s.ref, d)
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("it does not parse as an index: %w", err)
	}
	if idx.MediaType != "" && !idx.MediaType.IsIndex() {
		return nil, fmt.Errorf("it is listed as an index but is a %s", idx.MediaType)
	}
	return idx, nil
}

func (s clientIndexSource) configPlatform(ctx context.Context, d v1.Hash) (*v1.Platform, error) {
	img, err := s.c.ImageByDigest(ctx, s.ref, d, nil)
	if err != nil {
		return nil, err
	}
	if mt := img.Manifest.Config.MediaType; mt != types.OCIConfigJSON && mt != types.DockerConfigJSON {
		return nil, fmt.Errorf("its config has media type %q, not an image config: it is an artifact, not a runnable image", mt)
	}
	if img.Config.OS == "" || img.Config.Architecture == "" {
		return nil, fmt.Errorf("its config %s names no os and architecture", img.Manifest.Config.Digest)
	}
	return &v1.Platform{OS: img.Config.OS, Architecture: img.Config.Architecture, Variant: img.Config.Variant}, nil
}

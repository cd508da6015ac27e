package registry

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultPlatform is chosen from an index when none is asked for.
const DefaultPlatform = "linux/amd64"

// PlatformManifest is one runnable image of an index, found by the index
// walk (see walkIndex).
type PlatformManifest struct {
	// Platform is os/arch[/variant], from the index entry or, for an entry
	// without one, from the image's config.
	Platform string
	Digest   v1.Hash
	Size     int64
	// Index is the digest of the index that lists this image: the
	// reference's own, or a nested index's.
	Index v1.Hash
}

func platformString(p *v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform parses os/arch[/variant].
func ParsePlatform(s string) (*v1.Platform, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || (len(parts) == 3 && parts[2] == "") {
		return nil, fmt.Errorf("platform %q is not os/arch[/variant], e.g. \"linux/amd64\" or \"linux/arm64/v8\"", s)
	}
	p := &v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// platformMatches compares a wanted platform with an image's: os and arch
// equal, and the variant when one is asked for (arm64 is v8 by default).
func platformMatches(want, got *v1.Platform) bool {
	if got == nil || want.OS != got.OS || want.Architecture != got.Architecture {
		return false
	}
	if want.Variant == "" {
		return true
	}
	gv := got.Variant
	if gv == "" && got.Architecture == "arm64" {
		gv = "v8"
	}
	return want.Variant == gv
}

// Platforms selects the platform manifests to judge: all runnable platforms
// of an index when none are given, else every entry matching each named one
// (each must match at least one). An index may list a platform twice, or
// "linux/arm" may match v6 and v7: a runtime could pick any of them, so all
// are returned. A single-platform image yields its own manifest; its
// Platform is empty unless platforms were asked for (naming it needs the
// config blob, and a plan whose scans are cached must fetch no blob).
func (c *Client) Platforms(ctx context.Context, r *Resolved, wanted []string) ([]PlatformManifest, error) {
	if !r.IsIndex() && len(wanted) == 0 {
		return []PlatformManifest{{Digest: r.Digest}}, nil
	}
	if !r.IsIndex() {
		img, err := c.Image(ctx, r, "")
		if err != nil {
			return nil, err
		}
		for _, w := range wanted {
			p, err := ParsePlatform(w)
			if err != nil {
				return nil, &Error{Kind: KindPlatform, Ref: r.Ref.Input, Message: err.Error()}
			}
			if !platformMatches(p, &v1.Platform{OS: img.Config.OS, Architecture: img.Config.Architecture, Variant: img.Config.Variant}) {
				return nil, &Error{Kind: KindPlatform, Ref: r.Ref.Input, Message: fmt.Sprintf("Platform %q is not provided by %s (%s): it is a single-platform image for %s. Remove the platform or use a matching one.", w, r.Ref.Input, r.Digest, img.Platform)}
			}
		}
		return []PlatformManifest{{Platform: img.Platform, Digest: r.Digest}}, nil
	}
	if len(wanted) == 0 {
		if len(r.Platforms) == 0 {
			return nil, &Error{Kind: KindPlatform, Ref: r.Ref.Input, Message: fmt.Sprintf("The index %s (%s) lists no runnable platform (%d attestation manifest(s) skipped). Reference an index or image that has one.", r.Ref.Input, r.Digest, len(r.Attestations))}
		}
		return r.Platforms, nil
	}
	var out []PlatformManifest
	seen := map[v1.Hash]bool{}
	for _, w := range wanted {
		pms, err := r.selectPlatforms(w)
		if err != nil {
			return nil, err
		}
		for _, pm := range pms {
			if !seen[pm.Digest] {
				seen[pm.Digest] = true
				out = append(out, pm)
			}
		}
	}
	return out, nil
}

// selectPlatforms returns every walked entry that matches want, in the
// order of Resolved.Platforms.
func (r *Resolved) selectPlatforms(want string) ([]PlatformManifest, error) {
	p, err := ParsePlatform(want)
	if err != nil {
		return nil, &Error{Kind: KindPlatform, Ref: r.Ref.Input, Message: err.Error()}
	}
	var out []PlatformManifest
	for _, pm := range r.Platforms {
		got, err := ParsePlatform(pm.Platform)
		if err == nil && platformMatches(p, got) {
			out = append(out, pm)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	var names []string
	for _, pm := range r.Platforms {
		if len(names) == 0 || names[len(names)-1] != pm.Platform {
			names = append(names, pm.Platform)
		}
	}
	provides := strings.Join(names, ", ")
	if provides == "" {
		provides = "no runnable platform"
	}
	return nil, &Error{Kind: KindPlatform, Ref: r.Ref.Input, Message: fmt.Sprintf(
		"Platform %q is not in the index %s (%s). It provides: %s.", want, r.Ref.Input, r.Digest, provides)}
}

// selectPlatform is the one entry a runtime pulling want would run: an
// entry naming exactly that platform first, else the first match in the
// order of Resolved.Platforms (the index's order among equal platforms).
func (r *Resolved) selectPlatform(want string) (PlatformManifest, error) {
	pms, err := r.selectPlatforms(want)
	if err != nil {
		return PlatformManifest{}, err
	}
	for _, pm := range pms {
		if pm.Platform == strings.TrimSpace(want) {
			return pm, nil
		}
	}
	return pms[0], nil
}

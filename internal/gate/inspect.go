package gate

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

// FieldPlatform is imageguard_image's `platform`: the one platform of an
// index described.
const FieldPlatform Field = "platform"

// Inspection is one image described: what imageguard_image reports.
type Inspection struct {
	// Image is the manifest and config described: the image, or the
	// platform's manifest of an index.
	Image *registry.Image
	// Pinned hands out exactly what was described: the image itself, or,
	// when a platform of an index was asked for, that platform's manifest
	// (the index would carry platforms nobody saw).
	Pinned name.Digest
	// Annotations are the index's own annotations overlaid with the
	// image manifest's.
	Annotations map[string]string
}

// Inspect reads the image r names, for platform ("" is the platform a
// runtime would pull here, for an index). Errors are *Error; a platform the
// index lacks is about FieldPlatform.
func Inspect(ctx context.Context, reg *registry.Client, r *registry.Resolved, platform string) (*Inspection, error) {
	img, err := reg.Image(ctx, r, platform)
	if err != nil {
		e := registryError(err)
		if e.Attr == FieldPlatforms {
			e.Attr = FieldPlatform
		}
		return nil, e
	}
	out := &Inspection{Image: img, Pinned: r.Pinned(), Annotations: IndexAnnotations(r)}
	if platform != "" {
		if out.Pinned, err = PinnedFor(r, []string{img.Digest.String()}); err != nil {
			return nil, err
		}
	}
	for k, v := range img.Manifest.Annotations {
		out.Annotations[k] = v
	}
	return out, nil
}

package gate

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

// PinnedFor is the digest-pinned reference a gate may hand out after
// judging the platform manifests judged (their digests): the image itself
// when it is not an index or when every runnable platform was judged, the
// platform's own manifest when one platform of an index was. Handing out
// the index after judging only some of its platforms would deploy platforms
// nobody judged, so that is an error.
func PinnedFor(r *registry.Resolved, judged []string) (name.Digest, error) {
	if !r.IsIndex() {
		return r.Pinned(), nil
	}
	seen := map[string]bool{}
	for _, d := range judged {
		seen[d] = true
	}
	var missing []string
	for _, pm := range r.Platforms {
		if !seen[pm.Digest.String()] {
			missing = append(missing, pm.Platform+" ("+pm.Digest.String()+")")
		}
	}
	switch {
	case len(missing) == 0:
		return r.Pinned(), nil
	case len(seen) == 1:
		return r.Ref.Repository.Digest(judged[0]), nil
	default:
		return name.Digest{}, &Error{Attr: FieldPlatforms, Summary: "Only some platforms judged",
			Detail: fmt.Sprintf("%s (%s): `platforms` judged %d platforms of the index but not %s, so the index cannot be handed out: a runtime could pull a platform nobody judged. "+
				"Remove `platforms` to judge every platform, or judge one platform per gate to get that platform's manifest in `pinned`.", r.Ref.Input, r.Digest, len(seen), strings.Join(missing, ", "))}
	}
}

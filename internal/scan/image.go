package scan

import (
	"bytes"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
)

// registryImage is a remote image as Trivy's image artifact wants it. The
// manifest and config come from the registry client's memo (already fetched
// and verified); layers are fetched lazily, only the ones Trivy's layer cache
// is missing, through the provider's credentials and transport.
type registryImage struct {
	v1.Image
	repo   name.Repository
	digest v1.Hash
	tag    string
}

var _ ftypes.Image = registryImage{}

type imageCore struct {
	manifest  []byte
	mediaType types.MediaType
	config    []byte
	repo      name.Repository
	opts      []remote.Option
}

func (c *imageCore) RawConfigFile() ([]byte, error)      { return c.config, nil }
func (c *imageCore) MediaType() (types.MediaType, error) { return c.mediaType, nil }
func (c *imageCore) RawManifest() ([]byte, error)        { return c.manifest, nil }

func (c *imageCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := v1.ParseManifest(bytes.NewReader(c.manifest))
	if err != nil {
		return nil, err
	}
	if h == m.Config.Digest {
		return partial.ConfigLayer(c)
	}
	for _, l := range m.Layers {
		if l.Digest == h {
			return remote.Layer(c.repo.Digest(h.String()), c.opts...)
		}
	}
	return nil, fmt.Errorf("layer %s is not in manifest", h)
}

func newRegistryImage(repo name.Repository, tag string, digest v1.Hash, mediaType types.MediaType, manifest, config []byte, opts []remote.Option) (registryImage, error) {
	img, err := partial.CompressedToImage(&imageCore{manifest: manifest, mediaType: mediaType, config: config, repo: repo, opts: opts})
	if err != nil {
		return registryImage{}, err
	}
	return registryImage{Image: img, repo: repo, digest: digest, tag: tag}, nil
}

func (r registryImage) Name() string { return r.repo.Name() + "@" + r.digest.String() }

func (r registryImage) ID() (string, error) {
	h, err := r.ConfigName()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (r registryImage) RepoTags() []string {
	if r.tag == "" {
		return []string{}
	}
	return []string{r.repo.Name() + ":" + r.tag}
}

func (r registryImage) RepoDigests() []string {
	return []string{r.repo.Name() + "@" + r.digest.String()}
}

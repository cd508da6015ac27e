package acctest

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/aquasecurity/trivy/pkg/cache"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	artimage "github.com/aquasecurity/trivy/pkg/fanal/artifact/image"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	trivyserver "github.com/aquasecurity/trivy/pkg/rpc/server"
)

// TrivyLayerCache is the layer cache of Trivy servers; replicas built with
// the same one share it, as replicas behind one URL share Redis.
type TrivyLayerCache = cache.Cache

// NewTrivyLayerCache is an in-memory layer cache for TrivyServerHandler.
func NewTrivyLayerCache() TrivyLayerCache { return cache.NewMemoryCache() }

// TrivyServerHandler is Trivy's own server (the `trivy server` of v0.74.0)
// over the database in cacheDir/db, requiring token in the Trivy-Token
// header. It stops when ctx ends. Tests use it so that the provider's
// acceptance tests import no Trivy package.
func TrivyServerHandler(ctx context.Context, cacheDir, token string, layers TrivyLayerCache) http.Handler {
	srv := trivyserver.NewServer("0.74.0", "", cacheDir, token, "Trivy-Token", "", nil, ftypes.RegistryOptions{})
	var dbWg, reqWg sync.WaitGroup
	return srv.NewServeMux(ctx, layers, &dbWg, &reqWg)
}

// LayerPoison is what a hostile client of a shared `trivy server` that
// holds its token prepares against an image: the cache keys Trivy's own
// client computes for the image's layers (from the layers' diff IDs, the
// analyzer versions and the options, all public), and for each the honest
// analysis with every OS and language package removed ("this layer has no
// packages").
type LayerPoison struct {
	// Keys are Trivy's layer cache keys, in the image's layer order.
	Keys  []string
	infos []ftypes.BlobInfo
}

// PoisonLayers analyses img as Trivy's own client does with opt (the
// options the victim uses, e.g. scan.ArtifactOption) and prepares the
// poisoned analyses; nothing is sent yet.
func PoisonLayers(tb testing.TB, img v1.Image, opt artifact.Option) *LayerPoison {
	tb.Helper()
	rec := &recordingCache{}
	art, err := artimage.NewArtifact(attackerImage{Image: img}, rec, opt)
	if err != nil {
		tb.Fatal(err)
	}
	ref, err := art.Inspect(context.Background())
	if err != nil {
		tb.Fatalf("the attacker's analysis: %v", err)
	}
	p := &LayerPoison{Keys: ref.BlobIDs}
	for _, k := range ref.BlobIDs {
		info, ok := rec.blobs[k]
		if !ok {
			tb.Fatalf("the attacker's analysis stored nothing under %s", k)
		}
		info.PackageInfos, info.Applications = nil, nil
		p.infos = append(p.infos, info)
	}
	return p
}

// Store writes the poisoned analyses under their keys on the server at url,
// with the server's token, through Trivy's own cache client.
func (p *LayerPoison) Store(ctx context.Context, url, token string) error {
	rc := cache.NewRemoteCache(ctx, cache.RemoteOptions{ServerAddr: url, CustomHeaders: http.Header{"Trivy-Token": {token}}})
	var errs []error
	for i, k := range p.Keys {
		errs = append(errs, rc.PutBlob(ctx, k, p.infos[i]))
	}
	return errors.Join(errs...)
}

// attackerImage is the attacker's copy of the image, enough for Trivy's
// artifact: its keys depend only on the diff IDs and the config's digest.
type attackerImage struct{ v1.Image }

func (a attackerImage) Name() string { return "attacker/copy" }
func (a attackerImage) ID() (string, error) {
	h, err := a.ConfigName()
	return h.String(), err
}
func (a attackerImage) RepoTags() []string    { return nil }
func (a attackerImage) RepoDigests() []string { return nil }

// recordingCache reports everything missing and keeps what is stored.
type recordingCache struct {
	mu    sync.Mutex
	blobs map[string]ftypes.BlobInfo
}

func (c *recordingCache) MissingBlobs(_ context.Context, _ string, blobIDs []string) (bool, []string, error) {
	return true, blobIDs, nil
}

func (c *recordingCache) PutArtifact(context.Context, string, ftypes.ArtifactInfo) error { return nil }

func (c *recordingCache) PutBlob(_ context.Context, id string, info ftypes.BlobInfo) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blobs == nil {
		c.blobs = map[string]ftypes.BlobInfo{}
	}
	c.blobs[id] = info
	return nil
}

func (c *recordingCache) DeleteBlobs(context.Context, []string) error { return nil }

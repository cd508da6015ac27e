package scan

import (
	"context"
	"sync"

	"github.com/aquasecurity/trivy/pkg/cache"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
)

// layerClaims makes concurrent scans in one process analyse a shared layer
// once. Trivy asks its cache which layers are missing and analyses those;
// two scans of images sharing a base layer would both be told it is
// missing and both download it. A scan that finds a layer claimed by
// another waits for that scan to store it, then asks again.
type layerClaims struct {
	mu       sync.Mutex
	inflight map[string]chan struct{}
}

func newLayerClaims() *layerClaims {
	return &layerClaims{inflight: map[string]chan struct{}{}}
}

// claimingCache is one scan's view of the layer cache.
type claimingCache struct {
	cache.ArtifactCache
	claims *layerClaims

	mu    sync.Mutex
	owned map[string]chan struct{}
}

func (l *layerClaims) wrap(c cache.ArtifactCache) *claimingCache {
	return &claimingCache{ArtifactCache: c, claims: l, owned: map[string]chan struct{}{}}
}

// MissingBlobs reports the missing layers this scan must analyse: those
// nobody else in the process is analysing now.
func (c *claimingCache) MissingBlobs(ctx context.Context, artifactID string, blobIDs []string) (bool, []string, error) {
	for {
		missingArtifact, missing, err := c.ArtifactCache.MissingBlobs(ctx, artifactID, blobIDs)
		if err != nil {
			return false, nil, err
		}
		var wait []chan struct{}
		var mine []string
		c.claims.mu.Lock()
		for _, b := range missing {
			if ch, ok := c.claims.inflight[b]; ok && !c.ownsLocked(b) {
				wait = append(wait, ch)
				continue
			}
			if !c.ownsLocked(b) {
				ch := make(chan struct{})
				c.claims.inflight[b] = ch
				c.mu.Lock()
				c.owned[b] = ch
				c.mu.Unlock()
			}
			mine = append(mine, b)
		}
		c.claims.mu.Unlock()
		if len(wait) == 0 {
			return missingArtifact, mine, nil
		}
		// Never hold claims while waiting for others': no deadlock.
		c.releaseAll()
		for _, ch := range wait {
			select {
			case <-ch:
			case <-ctx.Done():
				return false, nil, ctx.Err()
			}
		}
	}
}

func (c *claimingCache) ownsLocked(b string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.owned[b]
	return ok
}

// PutBlob stores the analysis and lets waiting scans go on.
func (c *claimingCache) PutBlob(ctx context.Context, blobID string, info ftypes.BlobInfo) error {
	err := c.ArtifactCache.PutBlob(ctx, blobID, info)
	c.release(blobID)
	return err
}

func (c *claimingCache) release(blobID string) {
	c.claims.mu.Lock()
	defer c.claims.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.owned[blobID]; ok {
		close(ch)
		delete(c.owned, blobID)
		if c.claims.inflight[blobID] == ch {
			delete(c.claims.inflight, blobID)
		}
	}
}

// releaseAll gives up every claim still held (the scan ended or failed).
func (c *claimingCache) releaseAll() {
	c.mu.Lock()
	ids := make([]string, 0, len(c.owned))
	for id := range c.owned {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.release(id)
	}
}

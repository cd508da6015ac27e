package scan

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/aquasecurity/trivy/pkg/cache"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
)

// A `trivy server` stores layer analyses under the cache keys its clients
// send, and any client that holds the token may store anything under any
// key. Trivy's keys are public: a digest of the layer's diff ID, the
// analyzer versions and the options, which anyone who can pull the image
// computes. A token holder could therefore store "this layer has no
// packages" under the key of a popular base layer, and every worker would
// pass every image built on it.
//
// So a worker never sends Trivy's key: it sends HMAC-SHA256(secret, Trivy's
// key), and the server only ever returns analyses under keys that a holder
// of the secret wrote. The secret is the worker's own (a random key kept in
// cache_dir) unless the user opts into `fleet_cache_key`, a secret shared by
// the workers that trust each other's analyses. The token alone gives
// neither.

// MinFleetCacheKeyLength is the shortest `fleet_cache_key` accepted: a
// token holder can test guesses against the server's cache, so the key
// must be too long to guess.
const MinFleetCacheKeyLength = 32

// workerKeyFile, in cache_dir, holds this worker's random layer-key secret.
// It is as sensitive as the directory: whoever can read it and holds the
// server's token can poison this worker's analyses, and whoever can write
// the directory can plant reports anyway.
const workerKeyFile = "scanner-server-layer-key"

// keyDomain separates imageguard's layer keys from any other use of the
// secret.
const keyDomain = "imageguard scanner_server layer cache key v1\x00"

// layerKeys derives the keys a worker sends to the server's cache.
type layerKeys struct {
	fleet    []byte // fleet_cache_key, or nil
	cacheDir string // where the worker's key is kept; "" for one process

	once   sync.Once
	secret []byte
	err    error
}

func newLayerKeys(fleetKey, cacheDir string) *layerKeys {
	k := &layerKeys{cacheDir: cacheDir}
	if fleetKey != "" {
		k.fleet = []byte(fleetKey)
	}
	return k
}

// scope says whose analyses a worker reuses, for logs and docs.
func (k *layerKeys) scope() string {
	switch {
	case k.fleet != nil:
		return "fleet (holders of fleet_cache_key)"
	case k.cacheDir != "":
		return "worker (this cache_dir)"
	default:
		return "process"
	}
}

// mapper returns the key function for one scan, loading (or creating) the
// worker's secret the first time.
func (k *layerKeys) mapper(ctx context.Context) (func(trivyKey string) string, error) {
	k.once.Do(func() {
		switch {
		case k.fleet != nil:
			k.secret = k.fleet
		case k.cacheDir != "":
			k.secret, k.err = workerKey(k.cacheDir)
		default:
			k.secret = make([]byte, 32)
			_, k.err = rand.Read(k.secret)
		}
		if k.err == nil {
			tflog.SubsystemDebug(ctx, LogSubsystem, "scanner_server layer cache keys", map[string]any{"reuse": k.scope()})
		}
	})
	if k.err != nil {
		return nil, k.err
	}
	secret := k.secret
	return func(trivyKey string) string {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(keyDomain))
		m.Write([]byte(trivyKey))
		return "sha256:" + hex.EncodeToString(m.Sum(nil))
	}, nil
}

// workerKey reads the worker's secret from cacheDir, creating it when
// missing. Two processes creating it at once agree on one (a hard link
// never replaces a file); where links are not possible the later rename
// wins, which costs reuse, never trust.
func workerKey(cacheDir string) ([]byte, error) {
	if err := PrepareCacheDir(cacheDir); err != nil {
		return nil, err
	}
	p := filepath.Join(cacheDir, workerKeyFile)
	for range 2 {
		b, err := readTrusted(p, 1<<10)
		if err == nil {
			return parseWorkerKey(p, b)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		tmp, err := os.CreateTemp(cacheDir, "."+workerKeyFile+"-*") // mode 0600
		if err != nil {
			return nil, fmt.Errorf("creating the scanner_server layer key in %s: %w", cacheDir, err)
		}
		_, werr := tmp.WriteString(hex.EncodeToString(secret) + "\n")
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			_ = os.Remove(tmp.Name())
			return nil, fmt.Errorf("creating the scanner_server layer key in %s: %w", cacheDir, err)
		}
		err = os.Link(tmp.Name(), p)
		if err != nil && !errors.Is(err, os.ErrExist) {
			err = os.Rename(tmp.Name(), p)
			if err == nil {
				return secret, nil
			}
		}
		_ = os.Remove(tmp.Name())
		if err == nil {
			return secret, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("creating the scanner_server layer key in %s: %w", cacheDir, err)
		}
		// Another process created it first: use theirs.
	}
	return nil, fmt.Errorf("the scanner_server layer key %s keeps appearing and disappearing: check what else writes to the cache directory", p)
}

// parseWorkerKey reads a worker key file: 64 lowercase hex digits and a
// newline, as workerKey writes it. Errors never show the content.
func parseWorkerKey(p string, b []byte) ([]byte, error) {
	if len(b) == 65 && b[64] == '\n' {
		b = b[:64]
	}
	if len(b) == 64 {
		secret := make([]byte, 32)
		if _, err := hex.Decode(secret, b); err == nil && hex.EncodeToString(secret) == string(b) {
			return secret, nil
		}
	}
	return nil, &UntrustedCacheFileError{Path: p, Reason: "is not a scanner_server layer key as imageguard writes it (64 lowercase hex digits)"}
}

// keyedCache is the server's cache as a worker sees it: Trivy's keys in,
// the worker's keys on the wire.
type keyedCache struct {
	cache.ArtifactCache
	key func(string) string
}

func (c keyedCache) MissingBlobs(ctx context.Context, artifactID string, blobIDs []string) (bool, []string, error) {
	back := make(map[string]string, len(blobIDs))
	sent := make([]string, len(blobIDs))
	for i, id := range blobIDs {
		sent[i] = c.key(id)
		back[sent[i]] = id
	}
	missingArtifact, missing, err := c.ArtifactCache.MissingBlobs(ctx, c.key(artifactID), sent)
	if err != nil {
		return false, nil, err
	}
	out := make([]string, 0, len(missing))
	for _, m := range missing {
		id, ok := back[m]
		if !ok {
			return false, nil, fmt.Errorf("the server's cache named a layer this scan did not ask about (%.80q)", m)
		}
		out = append(out, id)
	}
	return missingArtifact, out, nil
}

func (c keyedCache) PutArtifact(ctx context.Context, artifactID string, info ftypes.ArtifactInfo) error {
	return c.ArtifactCache.PutArtifact(ctx, c.key(artifactID), info)
}

func (c keyedCache) PutBlob(ctx context.Context, blobID string, info ftypes.BlobInfo) error {
	return c.ArtifactCache.PutBlob(ctx, c.key(blobID), info)
}

func (c keyedCache) DeleteBlobs(ctx context.Context, blobIDs []string) error {
	sent := make([]string, len(blobIDs))
	for i, id := range blobIDs {
		sent[i] = c.key(id)
	}
	return c.ArtifactCache.DeleteBlobs(ctx, sent)
}

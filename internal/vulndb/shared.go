package vulndb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// lockCacheDir creates cacheDir and takes the file lock lockName in it for
// one database (what, e.g. "the Java DB"), so that processes sharing the
// directory update it one at a time. A file system without locks is a
// warning, not an error. Leftovers of interrupted downloads are removed once
// the lock is held.
func lockCacheDir(ctx context.Context, cacheDir, lockName, what string) (unlock func(), warnings []string, err error) {
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, nil, newError(ErrCacheDir, err, "The cache directory %s cannot be created for %s: %s Choose a writable cache directory.", cacheDir, what, sentence(err))
	}
	lockPath := filepath.Join(cacheDir, lockName)
	unlock, err = lockFile(ctx, lockPath)
	switch {
	case errors.Is(err, errLockUnsupported):
		unlock = func() {}
		warnings = append(warnings, fmt.Sprintf("The file system of %s does not support file locks, so parallel runs sharing this cache directory are not coordinated.", cacheDir))
	case err != nil && ctx.Err() != nil:
		return nil, nil, newError(ErrCacheDir, err, "Gave up waiting for the lock on %s, held by another process that is updating %s: %s Try again when it is done.", lockPath, what, sentence(err))
	case err != nil:
		return nil, nil, newError(ErrCacheDir, err, "The cache for %s cannot be locked (%s): %s Check the permissions of %s.", what, lockPath, sentence(err), cacheDir)
	}
	removeLeftovers(cacheDir)
	return unlock, warnings, nil
}

// firstDownload tries the repositories in order; the first that yields a
// checked download wins. It returns each failed repository's error.
func firstDownload[T any](ctx context.Context, repos []string, fetch func(repo string) (T, error)) (T, []error) {
	var zero T
	var errs []error
	for _, repo := range repos {
		got, err := fetch(repo)
		if err == nil {
			return got, errs
		}
		if ctx.Err() != nil {
			return zero, append(errs, ctx.Err())
		}
		errs = append(errs, err)
	}
	return zero, errs
}

// remoteArtifact reads a database artifact's manifest from repo (parsed as
// ref) through the registry client's remote options.
func remoteArtifact(ctx context.Context, remoteOptions []remote.Option, ref name.Reference, repo string) (v1.Image, *v1.Manifest, error) {
	opts := append(append([]remote.Option(nil), remoteOptions...), remote.WithContext(ctx))
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, nil, newError(ErrUnavailable, err, "%s could not be fetched: %s", repo, sentence(err))
	}
	manifest, err := img.Manifest()
	if err != nil {
		return nil, nil, newError(ErrArtifact, err, "%s has a manifest that does not parse: %s", repo, sentence(err))
	}
	return img, manifest, nil
}

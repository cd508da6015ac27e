package vulndb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imageguard/terraform-provider-imageguard/internal/once"
)

// The Java DB is Trivy's index of Maven artifacts (by SHA-1), which its JAR
// analyser uses to name the packages inside JAR files. Trivy downloads it
// itself with its own registry client and keeps a copy for days whatever
// its age; JavaManager provides it under the rules of the vulnerability
// database instead: from the configured repositories with the registry
// client's credentials and transport, never older than MaxAge, never from
// the future. The layout is the trivy CLI's:
//
//	<CacheDir>/java-db/trivy-java.db           the SQLite index
//	<CacheDir>/java-db/metadata.json           trivy-java-db's metadata
//	<CacheDir>/java-db/imageguard-source.json  where it came from
//	<CacheDir>/java-db.lock                    exclusive flock while checking and replacing
const (
	// JavaMediaType is the media type of the single layer of a Java DB artifact.
	JavaMediaType = "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip"
	// JavaSchemaVersion is trivy-java-db's schema version Trivy v0.74.0 reads.
	JavaSchemaVersion = 1

	javaDirName  = "java-db"
	javaDBFile   = "trivy-java.db"
	javaUpstream = "ghcr.io/aquasecurity/trivy-java-db:1"
)

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// JavaDB is the Java DB JavaManager.Ensure checked.
type JavaDB struct {
	// CacheDir is the root passed to Trivy; Dir is CacheDir/java-db.
	CacheDir string
	Dir      string
	Metadata Metadata
	// Source is the repository it was downloaded from, or "cache".
	Source   string
	Warnings []string
}

// JavaManager provides the Java DB to one provider process. Options are
// those of the vulnerability database, with Repositories naming Java DB
// repositories (nil: DefaultJavaRepositories). It is safe for concurrent
// use; the first Ensure does the work and its result (error too, except a
// cancelled context) is kept.
type JavaManager struct {
	opts     Options
	cacheDir string
	dirErr   error
	maxAge   time.Duration
	now      func() time.Time

	once *once.Value[*JavaDB]
}

// NewJavaManager returns a JavaManager. Nothing happens until Ensure.
func NewJavaManager(opts Options) *JavaManager {
	if len(opts.Repositories) == 0 {
		opts.Repositories = DefaultJavaRepositories
	}
	base := NewManager(opts) // the same defaults for cache dir, max age and clock
	return &JavaManager{opts: base.opts, cacheDir: base.cacheDir, dirErr: base.dirErr, maxAge: base.maxAge, now: base.now, once: once.New[*JavaDB]()}
}

// CacheDir is the root directory Trivy must be given for this Java DB.
func (m *JavaManager) CacheDir() string { return m.cacheDir }

// Ensure returns a checked Java DB in CacheDir/java-db: the cached copy when
// it is valid, not past its NextUpdate and within MaxAge; else a download
// (never with SkipUpdate); else the cached copy within MaxAge with a
// warning. Anything older than MaxAge, or dated in the future, is an error.
func (m *JavaManager) Ensure(ctx context.Context) (*JavaDB, error) {
	db, err := m.once.Get(ctx, m.ensure)
	if err != nil {
		return nil, err
	}
	c := *db
	c.Warnings = append([]string(nil), db.Warnings...)
	return &c, nil
}

func (m *JavaManager) ensure(ctx context.Context) (*JavaDB, error) {
	if m.dirErr != nil {
		return nil, m.dirErr
	}
	unlock, warnings, err := lockCacheDir(ctx, m.cacheDir, javaDirName+".lock", "the Java DB")
	if err != nil {
		return nil, err
	}
	defer unlock()

	now := m.now()
	dir := filepath.Join(m.cacheDir, javaDirName)
	meta, cacheErr := validateJava(dir)
	if cacheErr == nil && meta.UpdatedAt.Sub(now) > MaxClockSkew {
		return nil, newError(ErrFuture, nil, "The cached Java DB in %s says it was updated at %s, %s after this machine's clock (%s): a database from the future is never trusted, because it would never look stale. Delete %s so that a new copy is downloaded, and check this machine's clock.",
			dir, meta.UpdatedAt.UTC().Format(time.RFC3339), formatAge(meta.UpdatedAt.Sub(now)), now.UTC().Format(time.RFC3339), dir)
	}
	db := &JavaDB{CacheDir: m.cacheDir, Dir: dir, Metadata: meta, Source: "cache"}
	switch {
	case m.opts.SkipUpdate:
		if cacheErr != nil {
			return nil, newError(ErrMissing, cacheErr, "The Java DB in %s %s, and skip_update forbids downloading one. Run once without skip_update, or put one there (e.g. `trivy --cache-dir %s image --download-java-db-only`).", dir, cacheErr.Error(), m.cacheDir)
		}
	case cacheErr == nil && now.Before(meta.NextUpdate) && now.Sub(meta.UpdatedAt) <= m.maxAge:
	default:
		cachedDigest := ""
		if cacheErr == nil {
			if src := readSource(dir, meta); src != nil {
				cachedDigest = src.LayerDigest
			}
		}
		got, repoErrs := m.download(ctx, cachedDigest, now)
		switch {
		case got != nil && got.tmp == "":
			// The repository still serves the cached copy.
		case got != nil:
			if err := install(got.tmp, dir); err != nil {
				_ = os.RemoveAll(got.tmp)
				return nil, newError(ErrCacheDir, err, "The downloaded Java DB could not be moved into %s: %s Check the permissions and free space of %s.", dir, sentence(err), m.cacheDir)
			}
			db.Metadata, db.Source = got.meta, got.repo
			if len(repoErrs) > 0 {
				warnings = append(warnings, fmt.Sprintf("The Java DB was downloaded from %s after other repositories failed: %s", got.repo, joinSentences(repoErrs)))
			}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case cacheErr == nil:
			warnings = append(warnings, fmt.Sprintf("The Java DB could not be updated, so the cached copy in %s (updated %s ago) is used: %s", dir, formatAge(now.Sub(meta.UpdatedAt)), joinSentences(repoErrs)))
		default:
			return nil, newError(ErrUnavailable, errors.Join(append([]error{ErrMissing}, repoErrs...)...),
				"No Java DB is available for scanning JAR files: no repository could be downloaded from, and the copy in %s %s. %s Make sure one of `java_repositories` is reachable with the configured credentials and serves a current Java DB (refresh a mirror with `oras cp %s <mirror>/aquasec/trivy-java-db:1`).",
				dir, cacheErr.Error(), joinSentences(repoErrs), javaUpstream)
		}
	}
	if age := now.Sub(db.Metadata.UpdatedAt); age > m.maxAge {
		where := "from " + db.Source
		if db.Source == "cache" {
			where = "in the cached copy in " + dir
		}
		return nil, newError(ErrStale, nil, "The Java DB %s was updated %s ago (at %s), which is older than max_age (%s), so JAR files cannot be judged. Refresh the mirror (e.g. `oras cp %s <mirror>/aquasec/trivy-java-db:1`), make a repository reachable, or raise max_age if an older index is acceptable.",
			where, formatAge(age), db.Metadata.UpdatedAt.UTC().Format(time.RFC3339), formatDuration(m.maxAge), javaUpstream)
	}
	db.Warnings = warnings
	return db, nil
}

type javaFetched struct {
	tmp  string
	repo string
	meta Metadata
}

func (m *JavaManager) download(ctx context.Context, cachedDigest string, now time.Time) (*javaFetched, []error) {
	return firstDownload(ctx, m.opts.Repositories, func(repo string) (*javaFetched, error) { return m.fetch(ctx, repo, cachedDigest, now) })
}

// fetch downloads one repository's Java DB into a temporary directory in
// CacheDir, through the registry client's remote options; nothing (an
// empty tmp) when the repository serves the cached layer.
func (m *JavaManager) fetch(ctx context.Context, repo, cachedDigest string, now time.Time) (*javaFetched, error) {
	ref, err := m.parseRepository(repo)
	if err != nil {
		return nil, newError(ErrArtifact, err, "%q is not a valid repository reference (%s) Give one like `mirror.example.com/aquasec/trivy-java-db:1`.", repo, sentence(err))
	}
	img, manifest, err := remoteArtifact(ctx, m.opts.RemoteOptions, ref, repo)
	if err != nil {
		return nil, err
	}
	if len(manifest.Layers) != 1 || string(manifest.Layers[0].MediaType) != JavaMediaType {
		return nil, newError(ErrArtifact, nil, "%s is not a Trivy Java DB: a Java DB artifact has exactly one layer of media type %s. Point `java_repositories` at a copy of %s.", repo, JavaMediaType, javaUpstream)
	}
	desc := manifest.Layers[0]
	if cachedDigest != "" && desc.Digest.String() == cachedDigest {
		return &javaFetched{repo: repo}, nil
	}
	layer, err := img.LayerByDigest(desc.Digest)
	if err != nil {
		return nil, newError(ErrUnavailable, err, "%s: its layer %s could not be fetched: %s", repo, desc.Digest, sentence(err))
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, newError(ErrUnavailable, err, "%s: its layer %s could not be fetched: %s", repo, desc.Digest, sentence(err))
	}
	tmp, err := os.MkdirTemp(m.cacheDir, tmpPrefix)
	if err != nil {
		_ = rc.Close()
		return nil, newError(ErrCacheDir, err, "No temporary directory can be created in %s: %s Check its permissions and free space.", m.cacheDir, sentence(err))
	}
	fail := func(e error) (*javaFetched, error) {
		_ = os.RemoveAll(tmp)
		return nil, e
	}
	err = extractFiles(rc, tmp, desc.Size, javaDBFile, metadataFile)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var nerr interface{ Timeout() bool }
		if errors.As(err, &nerr) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fail(newError(ErrUnavailable, err, "%s: the download of layer %s failed: %s", repo, desc.Digest, sentence(err)))
		}
		return fail(newError(ErrCorrupt, err, "%s serves a corrupt Java DB archive (layer %s): %s", repo, desc.Digest, sentence(err)))
	}
	meta, err := validateJava(tmp)
	if err != nil {
		kind := ErrCorrupt
		var p *problem
		if errors.As(err, &p) {
			kind = p.kind
		}
		return fail(newError(kind, err, "The Java DB from %s %s.", repo, err.Error()))
	}
	if ahead := meta.UpdatedAt.Sub(now); ahead > MaxClockSkew {
		return fail(newError(ErrFuture, nil, "%s serves a Java DB updated at %s, %s after this machine's clock (%s); a database from the future is refused, because it would never look stale. Check the mirror and this machine's clock.",
			repo, meta.UpdatedAt.UTC().Format(time.RFC3339), formatAge(ahead), now.UTC().Format(time.RFC3339)))
	}
	meta.DownloadedAt = now.UTC()
	if err := writeJavaMetadata(tmp, meta); err != nil {
		return fail(newError(ErrCacheDir, err, "metadata.json could not be written in %s: %s", tmp, sentence(err)))
	}
	if err := writeSource(tmp, source{Repository: repo, LayerDigest: desc.Digest.String(), UpdatedAt: meta.UpdatedAt}); err != nil {
		return fail(newError(ErrCacheDir, err, "%s could not be written in %s: %s", sourceFile, tmp, sentence(err)))
	}
	return &javaFetched{tmp: tmp, repo: repo, meta: meta}, nil
}

// parseRepository parses a Java DB repository as trivy does: no tag means
// the schema version as tag.
func (m *JavaManager) parseRepository(repo string) (name.Reference, error) {
	var opts []name.Option
	if r, err := name.ParseReference(repo, name.WithDefaultTag("")); err == nil && m.opts.Insecure != nil && m.opts.Insecure(r.Context().RegistryStr()) {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(repo, append(opts, name.WithDefaultTag(""))...)
	if err != nil {
		return nil, err
	}
	if t, ok := ref.(name.Tag); ok && t.TagStr() == "" {
		ref = t.Tag(strconv.Itoa(JavaSchemaVersion))
	}
	return ref, nil
}

// validateJava checks a Java DB directory: metadata.json with the schema
// version Trivy reads and an UpdatedAt, and a SQLite file.
func validateJava(dir string) (Metadata, error) {
	_, errDB := os.Stat(filepath.Join(dir, javaDBFile))
	_, errMeta := os.Stat(filepath.Join(dir, metadataFile))
	if errors.Is(errDB, os.ErrNotExist) && errors.Is(errMeta, os.ErrNotExist) {
		return Metadata{}, &problem{kind: ErrMissing, what: "does not exist"}
	}
	meta, err := readMetadata(dir)
	if err != nil {
		return Metadata{}, err
	}
	if meta.Version != JavaSchemaVersion {
		return meta, &problem{kind: ErrSchema, what: fmt.Sprintf("has schema version %d, but Trivy %s reads version %d (the `:%d` tag of trivy-java-db)", meta.Version, "v0.74.0", JavaSchemaVersion, JavaSchemaVersion)}
	}
	if meta.UpdatedAt.IsZero() {
		return meta, &problem{kind: ErrCorrupt, what: "has a metadata.json without UpdatedAt"}
	}
	f, err := os.Open(filepath.Join(dir, javaDBFile))
	if err != nil {
		return meta, &problem{kind: ErrCorrupt, what: fmt.Sprintf("has no readable %s (%v)", javaDBFile, err), err: err}
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return meta, &problem{kind: ErrCorrupt, what: fmt.Sprintf("has a %s that is not a SQLite database", javaDBFile)}
	}
	return meta, nil
}

// writeJavaMetadata writes metadata.json in trivy-java-db's format.
func writeJavaMetadata(dir string, m Metadata) error {
	b, err := json.Marshal(struct {
		Version      int `json:",omitempty"`
		NextUpdate   time.Time
		UpdatedAt    time.Time
		DownloadedAt time.Time
	}{m.Version, m.NextUpdate, m.UpdatedAt, m.DownloadedAt})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, metadataFile), b, 0o644)
}

// Package vulndb provides the Trivy vulnerability database: it finds a
// cached copy, downloads a new one from OCI repositories (Trivy's defaults
// or mirrors) when the copy is missing or due for an update, checks it
// (archive, schema version, bolt file, age) and opens it once per process
// for Trivy's detectors. It fails closed: a missing, corrupt or stale
// database is an error, never an empty one.
//
// The cache has the layout of the trivy CLI's --cache-dir, so
// `trivy --cache-dir <CacheDir> --skip-db-update ...` reads the same
// database:
//
//	<CacheDir>/db/trivy.db                 the bolt database
//	<CacheDir>/db/metadata.json            trivy-db's metadata (DownloadedAt set)
//	<CacheDir>/db/imageguard-source.json   where it came from (ignored by trivy)
//	<CacheDir>/db.lock                     exclusive flock while checking and replacing
//
// trivy-db keeps the open database in a package-global variable, so all
// Managers in one process must use the same CacheDir; Ensure returns an
// ErrCacheDir error otherwise.
package vulndb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/once"
)

// DefaultRepositories are Trivy's own defaults, tried in order.
var DefaultRepositories = []string{"mirror.gcr.io/aquasec/trivy-db:2", "ghcr.io/aquasecurity/trivy-db:2"}

// DefaultJavaRepositories are Trivy's defaults for the Java index database.
var DefaultJavaRepositories = []string{"mirror.gcr.io/aquasec/trivy-java-db:1", "ghcr.io/aquasecurity/trivy-java-db:1"}

// MediaType is the media type of the single layer of a Trivy DB artifact.
const MediaType = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"

// DefaultMaxAge is the MaxAge used when Options.MaxAge is zero.
const DefaultMaxAge = 72 * time.Hour

// MaxClockSkew is how far in the future a database's UpdatedAt may lie
// (the builder's and this machine's clocks differ a little). Beyond it the
// database is refused: its age would be negative, so it would pass every
// max_age check and, once cached, never be replaced by a real update.
const MaxClockSkew = 5 * time.Minute

// upstream is what mirrors copy; error messages say how.
const upstream = "ghcr.io/aquasecurity/trivy-db:2"

const lockPollInterval = 100 * time.Millisecond

// errLockUnsupported: the file system cannot lock; go on without.
var errLockUnsupported = errors.New("file locking is not supported here")

// Options configures a Manager.
type Options struct {
	// Repositories are tried in order; nil means DefaultRepositories. A
	// repository without tag or digest gets the schema version as its tag
	// (":2"), as trivy does.
	Repositories []string
	// CacheDir is the root cache directory, laid out like trivy's
	// --cache-dir; the database lives in CacheDir/db. Empty means
	// os.UserCacheDir()/imageguard.
	CacheDir string
	// MaxAge: a database whose UpdatedAt is older is an error. 0 means
	// DefaultMaxAge.
	MaxAge time.Duration
	// SkipUpdate never touches the network: the cached copy must exist and
	// is still subject to MaxAge.
	SkipUpdate bool
	// RemoteOptions carry credentials, transport and retries (the
	// registry client's RemoteOptions()).
	RemoteOptions []remote.Option
	// Insecure reports whether a registry host is listed as insecure
	// (plain HTTP allowed); references to it are parsed with name.Insecure.
	Insecure func(registry string) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// JavaRepositories are the Java DB's repositories (JavaManager, see
	// Java); nil means DefaultJavaRepositories. Manager ignores them.
	JavaRepositories []string
}

// Java returns the options for the Java DB: the same cache, max_age,
// skip_update, credentials and transport, with JavaRepositories.
func (o Options) Java() Options {
	j := o
	j.Repositories, j.JavaRepositories = o.JavaRepositories, nil
	return j
}

// Metadata is trivy-db's metadata.json.
type Metadata struct {
	Version      int
	UpdatedAt    time.Time
	NextUpdate   time.Time
	DownloadedAt time.Time
}

// DB is the database Ensure opened.
type DB struct {
	// CacheDir is Options.CacheDir (made absolute).
	CacheDir string
	// Dir holds trivy.db and metadata.json: CacheDir/db.
	Dir      string
	Metadata Metadata
	// Source is the repository the database was downloaded from by this
	// Manager, or "cache" when the cached copy was used.
	Source string
	// Digest is the digest of the artifact layer the database came from,
	// when this provider downloaded it; empty for a copy placed by other
	// tools.
	Digest string
	// Warnings are things the caller should surface without failing, e.g.
	// that the download failed and the cached copy, still within MaxAge,
	// was used.
	Warnings []string
}

// Age is how long before now the database was built.
func (db *DB) Age(now time.Time) time.Duration { return now.Sub(db.Metadata.UpdatedAt) }

func (db *DB) clone() *DB {
	c := *db
	c.Warnings = append([]string(nil), db.Warnings...)
	return &c
}

// Manager provides the database to one provider process. It is safe for
// concurrent use.
type Manager struct {
	opts     Options
	cacheDir string
	dirErr   error
	maxAge   time.Duration
	now      func() time.Time

	once *once.Value[*DB]
}

// NewManager returns a Manager. Nothing happens until Ensure.
func NewManager(opts Options) *Manager {
	m := &Manager{opts: opts, maxAge: opts.MaxAge, now: opts.Now, once: once.New[*DB]()}
	if m.maxAge <= 0 {
		m.maxAge = DefaultMaxAge
	}
	if m.now == nil {
		m.now = time.Now
	}
	if len(m.opts.Repositories) == 0 {
		m.opts.Repositories = DefaultRepositories
	}
	dir := opts.CacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			m.dirErr = newError(ErrCacheDir, err, "No cache directory for the vulnerability database is configured and the user cache directory is unknown (%s) Set a cache directory for the provider.", sentence(err))
		}
		dir = filepath.Join(base, "imageguard")
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	m.cacheDir = filepath.Clean(dir)
	return m
}

// LogSubsystem is the tflog subsystem of the database: which copy was
// chosen, downloaded or served from the cache, and its age.
const LogSubsystem = "vulndb"

// Ensure returns a fresh, opened database. The first call per Manager does
// the work: it takes CacheDir/db.lock, uses the cached copy when it is valid
// and neither past its NextUpdate nor older than MaxAge, else downloads
// from the repositories in order (never with SkipUpdate), checks and
// atomically installs the download, checks the age, and points trivy-db's
// global handle at it. Later calls return the same result (errors too,
// except a cancelled context), so a Manager downloads at most once.
//
// Errors are *Error values (test their kind with errors.Is), except the
// context's own error when ctx ends during a download. A Manager that
// installs a newer database than the one open in this process re-opens
// trivy-db's handle on it; only tests run several Managers in a process.
func (m *Manager) Ensure(ctx context.Context) (*DB, error) {
	db, err := m.Check(ctx)
	if err != nil {
		return nil, err
	}
	if err := openExclusive(db.Dir, db.Metadata); err != nil {
		return nil, err
	}
	return db, nil
}

// Check is Ensure without opening the database: the cached copy checked
// (or downloaded and installed) once per Manager, as Ensure does, and
// trivy-db's handle left alone. A plan whose reports are all cached needs
// no more of the database than this.
func (m *Manager) Check(ctx context.Context) (*DB, error) {
	db, err := m.once.Get(ctx, m.ensure)
	if err != nil {
		return nil, err
	}
	return db.clone(), nil
}

func (m *Manager) ensure(ctx context.Context) (*DB, error) {
	if m.dirErr != nil {
		return nil, m.dirErr
	}
	unlock, warnings, err := lockCacheDir(ctx, m.cacheDir, "db.lock", "the vulnerability database")
	if err != nil {
		return nil, err
	}
	defer unlock()

	now := m.now()
	dbDir := filepath.Join(m.cacheDir, "db")
	cached, cacheErr := m.inspect(dbDir)
	if cacheErr == nil && cached.Metadata.UpdatedAt.Sub(now) > MaxClockSkew {
		return nil, newError(ErrFuture, nil, "The cached vulnerability database in %s says it was updated at %s, %s after this machine's clock (%s): a database from the future is never trusted, because it would never look stale and no real update would replace it. Delete %s so that a new copy is downloaded, and check this machine's clock and the mirror the copy came from.",
			dbDir, cached.Metadata.UpdatedAt.UTC().Format(time.RFC3339), formatAge(cached.Metadata.UpdatedAt.Sub(now)), now.UTC().Format(time.RFC3339), dbDir)
	}

	var db *DB
	switch {
	case m.opts.SkipUpdate:
		if cacheErr != nil {
			if errors.Is(cacheErr, ErrMissing) {
				return nil, newError(ErrMissing, cacheErr, "There is no vulnerability database in %s and skip_update forbids downloading one. Run once without skip_update, or put a database there (e.g. `trivy --cache-dir %s image --download-db-only`, or `oras pull %s` and unpack db.tar.gz into %s).", dbDir, m.cacheDir, upstream, dbDir)
			}
			return nil, m.cacheError(dbDir, cacheErr, "Run once without skip_update so that a new copy is downloaded, or replace it (e.g. `trivy --cache-dir "+m.cacheDir+" image --download-db-only`).")
		}
		db = cached
	case cacheErr == nil && now.Before(cached.Metadata.NextUpdate) && now.Sub(cached.Metadata.UpdatedAt) <= m.maxAge:
		db = cached
	default:
		reason := "no cached copy"
		if cacheErr == nil {
			reason = "the cached copy is past its next update or older than max_age"
		}
		tflog.SubsystemDebug(ctx, LogSubsystem, "downloading the vulnerability database", map[string]any{"reason": reason, "repositories": len(m.opts.Repositories)})
		got, repoErrs := m.download(ctx, cached, now)
		if got == nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		switch {
		case got != nil && cached != nil && got.Metadata.UpdatedAt.Before(cached.Metadata.UpdatedAt):
			// A mirror behind the cache: keep the newer copy.
			warnings = append(warnings, fmt.Sprintf("%s serves a vulnerability database updated at %s, older than the cached copy in %s (updated at %s); the cached copy is used. Refresh the mirror (e.g. `oras cp %s %s`).",
				got.Source, got.Metadata.UpdatedAt.UTC().Format(time.RFC3339), dbDir, cached.Metadata.UpdatedAt.UTC().Format(time.RFC3339), upstream, got.Source))
			if got.tmp != "" {
				_ = os.RemoveAll(got.tmp)
			}
			db = cached
		case got != nil:
			if got.tmp != "" {
				if err := install(got.tmp, dbDir); err != nil {
					_ = os.RemoveAll(got.tmp)
					return nil, newError(ErrCacheDir, err, "The downloaded vulnerability database could not be moved into %s: %s Check the permissions and free space of %s.", dbDir, sentence(err), m.cacheDir)
				}
			}
			db = got.DB
			db.Dir = dbDir
			if len(repoErrs) > 0 {
				warnings = append(warnings, fmt.Sprintf("The vulnerability database was downloaded from %s after other repositories failed: %s", got.Source, joinSentences(repoErrs)))
			}
		case cacheErr == nil:
			if age := now.Sub(cached.Metadata.UpdatedAt); age > m.maxAge {
				return nil, newError(ErrStale, errors.Join(repoErrs...),
					"The vulnerability database in the cached copy in %s was updated %s ago (at %s), which is older than max_age (%s), and no repository could be downloaded from: %s Make a repository reachable (check the network and credentials) or refresh the mirror (e.g. `oras cp %s <mirror>/aquasec/trivy-db:2` or `crane copy %s <mirror>/aquasec/trivy-db:2`).",
					dbDir, formatAge(age), cached.Metadata.UpdatedAt.UTC().Format(time.RFC3339), formatDuration(m.maxAge), joinSentences(repoErrs), upstream, upstream)
			}
			warnings = append(warnings, fmt.Sprintf("The vulnerability database could not be updated, so the cached copy in %s (updated %s ago) is used: %s",
				dbDir, formatAge(now.Sub(cached.Metadata.UpdatedAt)), joinSentences(repoErrs)))
			db = cached
		default:
			kinds := append([]error{ErrMissing}, repoErrs...)
			what := "there is no cached copy in " + dbDir
			if !errors.Is(cacheErr, ErrMissing) {
				kinds = append(kinds, cacheErr)
				what = "the cached copy " + cacheErr.Error()
			}
			return nil, newError(ErrUnavailable, errors.Join(kinds...),
				"No vulnerability database is available: no repository could be downloaded from and %s. %s Make sure at least one repository is reachable with the configured credentials and serves a current Trivy database (refresh a mirror with `oras cp %s <mirror>/aquasec/trivy-db:2` or `crane copy %s <mirror>/aquasec/trivy-db:2`).",
				what, joinSentences(repoErrs), upstream, upstream)
		}
	}

	if age := now.Sub(db.Metadata.UpdatedAt); age > m.maxAge {
		if db.Source == "cache" {
			hint := "Run without skip_update so that a new copy is downloaded, or replace it (e.g. `trivy --cache-dir " + m.cacheDir + " image --download-db-only`)."
			if !m.opts.SkipUpdate {
				hint = fmt.Sprintf("Refresh the mirror it came from (e.g. `oras cp %s <mirror>/aquasec/trivy-db:2`).", upstream)
			}
			return nil, newError(ErrStale, nil, "The vulnerability database in the cached copy in %s was updated %s ago (at %s), which is older than max_age (%s). %s",
				dbDir, formatAge(age), db.Metadata.UpdatedAt.UTC().Format(time.RFC3339), formatDuration(m.maxAge), hint)
		}
		return nil, newError(ErrStale, nil, "The vulnerability database from %s was updated %s ago (at %s), which is older than max_age (%s). Refresh the mirror (e.g. `oras cp %s %s` or `crane copy %s %s`), or raise max_age if an older database is acceptable.",
			db.Source, formatAge(age), db.Metadata.UpdatedAt.UTC().Format(time.RFC3339), formatDuration(m.maxAge), upstream, db.Source, upstream, db.Source)
	}

	tflog.SubsystemDebug(ctx, LogSubsystem, "vulnerability database chosen", map[string]any{
		"source": db.Source, "updated_at": db.Metadata.UpdatedAt.UTC().Format(time.RFC3339), "age": formatAge(now.Sub(db.Metadata.UpdatedAt)),
		"next_update": db.Metadata.NextUpdate.UTC().Format(time.RFC3339), "max_age": formatDuration(m.maxAge), "skip_update": m.opts.SkipUpdate,
		"downloaded": db.Source != "cache", "dir": dbDir, "warnings": len(warnings),
	})
	db.CacheDir = m.cacheDir
	db.Warnings = append(warnings, db.Warnings...)
	return db, nil
}

// cacheError describes an unusable cached copy.
func (m *Manager) cacheError(dbDir string, err error, hint string) error {
	var p *problem
	kind := ErrCorrupt
	if errors.As(err, &p) {
		kind = p.kind
	}
	return newError(kind, err, "The cached vulnerability database in %s %s. %s", dbDir, err.Error(), hint)
}

// inspect looks at the cached copy: a DB with Source "cache", or an error
// (ErrMissing when there is none at all).
func (m *Manager) inspect(dbDir string) (*DB, error) {
	_, errDB := os.Stat(trivydb.Path(dbDir))
	_, errMeta := os.Stat(filepath.Join(dbDir, metadataFile))
	if errors.Is(errDB, os.ErrNotExist) && errors.Is(errMeta, os.ErrNotExist) {
		return nil, &problem{kind: ErrMissing, what: "does not exist"}
	}
	meta, err := validate(dbDir)
	if err != nil {
		return nil, err
	}
	db := &DB{Dir: dbDir, Metadata: meta, Source: "cache"}
	if s := readSource(dbDir, meta); s != nil {
		db.Digest = s.LayerDigest
	}
	return db, nil
}

// fetched is a download: a checked database in tmp (empty when the
// repository serves exactly the cached copy).
type fetched struct {
	*DB
	tmp string
}

// download tries the repositories in order; the first that yields a valid
// database wins. It returns each failed repository's error.
func (m *Manager) download(ctx context.Context, cached *DB, now time.Time) (*fetched, []error) {
	return firstDownload(ctx, m.opts.Repositories, func(repo string) (*fetched, error) { return m.fetch(ctx, repo, cached, now) })
}

// parseRepository parses a repository reference as trivy does: no tag
// means the schema version as tag.
func (m *Manager) parseRepository(repo string) (name.Reference, error) {
	ref, err := name.ParseReference(repo, name.WithDefaultTag(""))
	if err != nil {
		return nil, err
	}
	if m.opts.Insecure != nil && m.opts.Insecure(ref.Context().RegistryStr()) {
		if ref, err = name.ParseReference(repo, name.WithDefaultTag(""), name.Insecure); err != nil {
			return nil, err
		}
	}
	if t, ok := ref.(name.Tag); ok && t.TagStr() == "" {
		ref = t.Tag(strconv.Itoa(trivydb.SchemaVersion))
	}
	return ref, nil
}

// fetch downloads, unpacks and checks one repository's database into a
// temporary directory inside CacheDir.
func (m *Manager) fetch(ctx context.Context, repo string, cached *DB, now time.Time) (*fetched, error) {
	ref, err := m.parseRepository(repo)
	if err != nil {
		return nil, newError(ErrArtifact, err, "%q is not a valid repository reference (%s) Give one like `mirror.example.com/aquasec/trivy-db:2`.", repo, sentence(err))
	}
	img, manifest, err := remoteArtifact(ctx, m.opts.RemoteOptions, ref, repo)
	if err != nil {
		return nil, err
	}
	if len(manifest.Layers) != 1 {
		return nil, newError(ErrArtifact, nil, "%s is not a Trivy vulnerability database: it has %d layers, a Trivy DB artifact has exactly one of media type %s.", repo, len(manifest.Layers), MediaType)
	}
	desc := manifest.Layers[0]
	if string(desc.MediaType) != MediaType {
		return nil, newError(ErrArtifact, nil, "%s is not a Trivy vulnerability database: its layer has media type %s, not %s. Point the repositories at a copy of %s.", repo, desc.MediaType, MediaType, upstream)
	}
	if cached != nil && cached.Digest == desc.Digest.String() {
		// The repository still serves the cached copy: nothing to download.
		return &fetched{DB: cached}, nil
	}
	tmp, err := os.MkdirTemp(m.cacheDir, tmpPrefix)
	if err != nil {
		return nil, newError(ErrCacheDir, err, "No temporary directory can be created in %s: %s Check its permissions and free space.", m.cacheDir, sentence(err))
	}
	db, err := m.unpack(img, desc, tmp, repo, now)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	return &fetched{DB: db, tmp: tmp}, nil
}

func (m *Manager) unpack(img v1.Image, desc v1.Descriptor, tmp, repo string, now time.Time) (*DB, error) {
	layer, err := img.LayerByDigest(desc.Digest)
	if err != nil {
		return nil, newError(ErrUnavailable, err, "%s: its layer %s could not be fetched: %s", repo, desc.Digest, sentence(err))
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, newError(ErrUnavailable, err, "%s: its layer %s could not be fetched: %s", repo, desc.Digest, sentence(err))
	}
	err = extract(rc, tmp, desc.Size)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var nerr interface{ Timeout() bool }
		if errors.As(err, &nerr) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, newError(ErrUnavailable, err, "%s: the download of layer %s failed: %s", repo, desc.Digest, sentence(err))
		}
		return nil, newError(ErrCorrupt, err, "%s serves a corrupt database archive (layer %s): %s", repo, desc.Digest, sentence(err))
	}
	meta, err := validate(tmp)
	if err != nil {
		kind := ErrCorrupt
		var p *problem
		if errors.As(err, &p) {
			kind = p.kind
		}
		return nil, newError(kind, err, "The database from %s %s.", repo, err.Error())
	}
	if ahead := meta.UpdatedAt.Sub(now); ahead > MaxClockSkew {
		return nil, newError(ErrFuture, nil, "%s serves a vulnerability database updated at %s, %s after this machine's clock (%s); a database from the future is refused, because it would never look stale. Check the mirror (its metadata.json is wrong, or the artifact was altered) and this machine's clock.",
			repo, meta.UpdatedAt.UTC().Format(time.RFC3339), formatAge(ahead), now.UTC().Format(time.RFC3339))
	}
	meta.DownloadedAt = now.UTC()
	if err := writeMetadata(tmp, meta); err != nil {
		return nil, newError(ErrCacheDir, err, "metadata.json could not be written in %s: %s", tmp, sentence(err))
	}
	if err := writeSource(tmp, source{Repository: repo, LayerDigest: desc.Digest.String(), UpdatedAt: meta.UpdatedAt}); err != nil {
		return nil, newError(ErrCacheDir, err, "%s could not be written in %s: %s", sourceFile, tmp, sentence(err))
	}
	return &DB{Metadata: meta, Source: repo, Digest: desc.Digest.String()}, nil
}

const (
	tmpPrefix = ".db-download-"
	oldPrefix = ".db-old-"
)

// install replaces dbDir with tmp: an atomic exchange where the file system
// supports it, else two renames (under the cache lock).
func install(tmp, dbDir string) error {
	if _, err := os.Lstat(dbDir); errors.Is(err, os.ErrNotExist) {
		return os.Rename(tmp, dbDir)
	}
	ok, err := exchange(tmp, dbDir)
	if err != nil {
		return err
	}
	if ok {
		// tmp now holds the old database. A process that still has it open
		// keeps reading it; the files go when it closes them.
		return os.RemoveAll(tmp)
	}
	old, err := os.MkdirTemp(filepath.Dir(dbDir), oldPrefix)
	if err != nil {
		return err
	}
	if err := os.Remove(old); err != nil {
		return err
	}
	if err := os.Rename(dbDir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dbDir); err != nil {
		_ = os.Rename(old, dbDir)
		return err
	}
	return os.RemoveAll(old)
}

// removeLeftovers deletes temporary directories of interrupted runs; the
// caller holds the lock, so none is in use.
func removeLeftovers(cacheDir string) {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && (strings.HasPrefix(e.Name(), tmpPrefix) || strings.HasPrefix(e.Name(), oldPrefix)) {
			_ = os.RemoveAll(filepath.Join(cacheDir, e.Name()))
		}
	}
}

func joinSentences(errs []error) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, sentence(e))
	}
	return strings.Join(parts, " ")
}

// Package scan runs Trivy v0.74.0 as a library over one image digest and
// returns its findings: OS and language packages against the vulnerability
// database, and secrets in layers and in the image config. Images are read
// straight from the registry through the provider's client (no Docker daemon,
// no trivy binary). Trivy's layer cache lives in the provider's cache_dir, so
// a layer analysed once is never downloaded again, and each platform's
// result is cached on disk per (platform digest, database version,
// options): its summary (what the gates judge, summary.go) always, Trivy's
// full report when a caller needs it (VEX, a signed predicate). Nothing
// per image is kept in memory once its caller has it.
package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	dbTypes "github.com/aquasecurity/trivy-db/pkg/types"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	tlog "github.com/aquasecurity/trivy/pkg/log"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

// TrivyVersion is the Trivy library imageguard embeds; it is part of every
// cache key, so an upgrade never reuses reports made by another version.
const TrivyVersion = "0.74.0"

// cacheSchema versions the on-disk report cache format: 3 records each
// report's own key and is scrubbed of the image config; 4 counts a
// summary's OS packages (an older summary would read as "none found").
const cacheSchema = 4

// maxReportSize bounds a cached report read from disk.
const maxReportSize = 512 << 20

// Scanner kinds, as Trivy names them.
const (
	ScannerVuln   = "vuln"
	ScannerSecret = "secret"
	PkgTypeOS     = "os"
	PkgTypeLib    = "library"
)

func init() {
	// Trivy logs through a package-global logger to stderr; a provider's
	// stderr is terraform's log, which must stay quiet and secret-free.
	tlog.InitLogger(false, true)
}

// Options select what Trivy scans. The zero value means both scanners and
// both package types.
type Options struct {
	Scanners []string
	PkgTypes []string
}

func (o Options) normalized() Options {
	n := Options{Scanners: slices.Clone(o.Scanners), PkgTypes: slices.Clone(o.PkgTypes)}
	if len(n.Scanners) == 0 {
		n.Scanners = []string{ScannerVuln, ScannerSecret}
	}
	if len(n.PkgTypes) == 0 {
		n.PkgTypes = []string{PkgTypeOS, PkgTypeLib}
	}
	slices.Sort(n.Scanners)
	n.Scanners = slices.Compact(n.Scanners)
	slices.Sort(n.PkgTypes)
	n.PkgTypes = slices.Compact(n.PkgTypes)
	return n
}

// DBInfo describes the vulnerability database a report was made with.
type DBInfo struct {
	report.DB
	// Warnings are things the user must hear about, e.g. that the update
	// failed and a cached copy within max_age was used.
	Warnings []string

	// mixed says that the scan cannot be tied to one database (a server's
	// changed while it scanned): such a report is never cached.
	mixed bool
}

// Backend detects vulnerabilities for an analysed image: the local database,
// or a shared `trivy server`.
type Backend interface {
	// DB makes sure the database is usable (present, fresh, open) and says
	// which one it is. It fails closed.
	DB(ctx context.Context) (DBInfo, error)
	// Scan analyses the image (downloading only layers the layer cache lacks)
	// and detects vulnerabilities and secrets. It says which database
	// answered, checked for freshness: a server may have updated its
	// database, or another replica may have answered, since DB.
	Scan(ctx context.Context, img ftypes.Image, opts Options) (types.Report, DBInfo, error)
}

// Scanner scans platform images and caches the reports.
type Scanner struct {
	reg      *registry.Client
	backend  Backend
	cacheDir string

	// inflight are the scans under way, by cache key: concurrent callers
	// share one; none is kept once over (see summary.go).
	mu       sync.Mutex
	inflight map[string]*flight

	dirOnce sync.Once
	dirErr  error

	java *JavaDB // nil: Trivy's own Java DB updater

	analyses atomic.Int64
}

// New builds a scanner over a registry client and a back end. cacheDir holds
// the on-disk report cache ("" disables it).
func New(reg *registry.Client, backend Backend, cacheDir string) *Scanner {
	return &Scanner{reg: reg, backend: backend, cacheDir: cacheDir, inflight: map[string]*flight{}}
}

// Analyses counts the Trivy analyses this scanner ran (cache misses).
func (s *Scanner) Analyses() int64 { return s.analyses.Load() }

// Target is one platform image of a resolved reference.
type Target struct {
	Resolved *registry.Resolved
	Platform registry.PlatformManifest
}

// LogSubsystem is the tflog subsystem of scans: each platform scanned or
// served from the report cache.
const LogSubsystem = "scan"

// Scan returns Trivy's report for one platform image, from the disk cache
// when the same digest was scanned with the same database and options (or
// from a scan of it under way in this process), else by running Trivy. The
// report is the caller's: the scanner keeps no report. Gates that need no
// report use Result.
func (s *Scanner) Scan(ctx context.Context, t Target, opts Options) (*types.Report, DBInfo, error) {
	f, err := s.flight(ctx, t, opts, true)
	if err != nil {
		return nil, f.db, err
	}
	return f.report, f.db, nil
}

// analyse runs Trivy through the back end.
func (s *Scanner) analyse(ctx context.Context, t Target, opts Options) (types.Report, DBInfo, error) {
	img, err := s.reg.ImageByDigest(ctx, t.Resolved.Ref, t.Platform.Digest, nil)
	if err != nil {
		return types.Report{}, DBInfo{}, err
	}
	raw, err := v1Manifest(ctx, s.reg, t)
	if err != nil {
		return types.Report{}, DBInfo{}, err
	}
	if enc := encryptedLayers(img); len(enc) > 0 {
		return types.Report{}, DBInfo{}, fmt.Errorf("%s (%s) has encrypted layers (%s) that Trivy cannot read: the image cannot be scanned, and an unscanned image never passes. "+
			"Scan the image before encryption, or exclude it from this gate deliberately", t.Resolved.Ref.Input, t.Platform.Digest, enc[0])
	}
	timg, err := newRegistryImage(t.Resolved.Ref.Repository, t.Resolved.Ref.Tag, t.Platform.Digest, img.MediaType, raw, img.RawConfig,
		// The request's context bounds every layer download: a registry that
		// hangs mid-blob ends at the provider's timeout.
		append(s.reg.RemoteOptions(), remote.WithContext(ctx)))
	if err != nil {
		return types.Report{}, DBInfo{}, err
	}
	s.analyses.Add(1)
	report, answered, err := s.javaScan(ctx, t, func() (types.Report, DBInfo, error) { return s.backend.Scan(ctx, timg, opts) })
	if err != nil {
		if rerr := asRegistryError(t, err); rerr != nil {
			return types.Report{}, DBInfo{}, rerr
		}
		return types.Report{}, DBInfo{}, fmt.Errorf("trivy could not scan %s (%s): %w", t.Resolved.Ref.Input, t.Platform.Digest, err)
	}
	return report, answered, nil
}

// v1Manifest returns the raw platform manifest (memoised by the client).
func v1Manifest(ctx context.Context, c *registry.Client, t Target) ([]byte, error) {
	return c.RawManifest(ctx, t.Resolved.Ref, t.Platform.Digest)
}

func encryptedLayers(img *registry.Image) []string {
	var out []string
	for _, l := range img.Manifest.Layers {
		if isEncrypted(string(l.MediaType)) {
			out = append(out, string(l.MediaType))
		}
	}
	return out
}

func isEncrypted(mediaType string) bool {
	return len(mediaType) > len("+encrypted") && mediaType[len(mediaType)-len("+encrypted"):] == "+encrypted"
}

// asRegistryError surfaces a registry failure that happened while Trivy
// fetched layers with the registry's own message.
func asRegistryError(t Target, err error) error {
	var re *registry.Error
	if errors.As(err, &re) {
		return re
	}
	// The Java DB's failures name its repository; they are said as they are.
	var je *JavaDBError
	if errors.As(err, &je) {
		return je
	}
	// The scanner server's own failures name the server, not the registry.
	var se *serverError
	var redirect *RedirectError
	if errors.As(err, &se) || errors.As(err, &redirect) {
		return nil
	}
	return registry.Classify(t.Resolved.Ref.Input, t.Resolved.Ref.Registry(), err)
}

func cacheKey(digest string, db DBInfo, opts Options) string {
	b, _ := json.Marshal(struct {
		Schema    int
		Trivy     string
		Digest    string
		DBVersion int
		DBUpdated time.Time
		Scanners  []string
		PkgTypes  []string
	}{cacheSchema, TrivyVersion, digest, db.SchemaVersion, db.UpdatedAt.UTC(), opts.Scanners, opts.PkgTypes})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *Scanner) diskPath(key string) string {
	return filepath.Join(s.cacheDir, "reports", key[:2], key+".json")
}

// cacheEntry is what every cached file records besides its content: the
// key it was written under and the digest, database and options that key
// stands for. A file is used only when it records the key of the scan
// asking for it and what that key stands for: one copied or planted under
// another name never passes an image.
type cacheEntry struct {
	Schema      int
	Key         string
	Trivy       string
	Digest      string
	DBVersion   int
	DBUpdatedAt time.Time
	Scanners    []string
	PkgTypes    []string
}

func newCacheEntry(key, digest string, db DBInfo, opts Options) cacheEntry {
	return cacheEntry{Schema: cacheSchema, Key: key, Trivy: TrivyVersion, Digest: digest, DBVersion: db.SchemaVersion, DBUpdatedAt: db.UpdatedAt.UTC(), Scanners: opts.Scanners, PkgTypes: opts.PkgTypes}
}

// trustedAs checks a cached file's entry (read from p) against want.
func (e cacheEntry) trustedAs(want cacheEntry, p string) error {
	if e.Key != want.Key {
		return &UntrustedCacheFileError{Path: p, Reason: fmt.Sprintf("records the key %q, not its own name %q: it was made for another scan or planted", e.Key, want.Key)}
	}
	if e.Schema != want.Schema || e.Trivy != want.Trivy || e.Digest != want.Digest || e.DBVersion != want.DBVersion || !e.DBUpdatedAt.Equal(want.DBUpdatedAt) ||
		!slices.Equal(e.Scanners, want.Scanners) || !slices.Equal(e.PkgTypes, want.PkgTypes) {
		return &UntrustedCacheFileError{Path: p, Reason: fmt.Sprintf("records a scan of %s with database %d/%s that does not match its key", e.Digest, e.DBVersion, e.DBUpdatedAt.Format(time.RFC3339))}
	}
	return nil
}

// diskReport is a cached report with what it was made from.
type diskReport struct {
	cacheEntry
	Report types.Report
}

// entry is a cached file's record of what it was made from.
func (d *diskReport) entry() cacheEntry { return d.cacheEntry }

// readCacheFile reads the cached file p made for want: nil on a miss (none,
// unreadable or corrupt: scan again), or an error for a file that must not
// be trusted (a link, someone else's, writable by others, under a directory
// like that, or recording another key).
func readCacheFile[T any, PT interface {
	*T
	entry() cacheEntry
}](p string, limit int64, want cacheEntry) (*T, error) {
	for _, dir := range []string{filepath.Dir(filepath.Dir(p)), filepath.Dir(p)} {
		if err := checkSubdir(dir); err != nil {
			var u *UntrustedCacheFileError
			if errors.As(err, &u) {
				return nil, u
			}
			return nil, nil
		}
	}
	b, err := readTrusted(p, limit)
	if err != nil {
		var u *UntrustedCacheFileError
		if errors.As(err, &u) {
			return nil, u
		}
		return nil, nil
	}
	var d T
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, nil // a corrupt entry is a miss, never a pass
	}
	if err := PT(&d).entry().trustedAs(want, p); err != nil {
		return nil, err
	}
	return &d, nil
}

// readDisk returns the cached report for key, nil on a miss, or an error
// for a file that must not be trusted.
func (s *Scanner) readDisk(key, digest string, db DBInfo, opts Options) (*types.Report, error) {
	if s.cacheDir == "" {
		return nil, nil
	}
	d, err := readCacheFile[diskReport](s.diskPath(key), maxReportSize, newCacheEntry(key, digest, db, opts))
	if d == nil || err != nil {
		return nil, err
	}
	return &d.Report, nil
}

// writeDisk caches a scrubbed report under the key of the database that
// answered. Failing to cache is never an error: the next plan scans again.
func (s *Scanner) writeDisk(digest string, db DBInfo, opts Options, r *types.Report) {
	if s.cacheDir == "" {
		return
	}
	key := cacheKey(digest, db, opts)
	writeCacheFile(s.diskPath(key), ".report-*", diskReport{cacheEntry: newCacheEntry(key, digest, db, opts), Report: *r})
}

// severityRank orders Trivy's severities; higher is worse.
func severityRank(s string) int {
	sev, err := dbTypes.NewSeverity(s)
	if err != nil {
		return 0
	}
	return int(sev)
}

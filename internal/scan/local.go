package scan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/aquasecurity/trivy-db/pkg/db"
	dbTypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy/pkg/cache"
	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	"github.com/aquasecurity/trivy/pkg/fanal/applier"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	artimage "github.com/aquasecurity/trivy/pkg/fanal/artifact/image"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	trivyscan "github.com/aquasecurity/trivy/pkg/scan"
	"github.com/aquasecurity/trivy/pkg/scan/langpkg"
	"github.com/aquasecurity/trivy/pkg/scan/local"
	"github.com/aquasecurity/trivy/pkg/scan/ospkg"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/aquasecurity/trivy/pkg/vulnerability"

	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// Database is the local vulnerability database.
type Database interface {
	Ensure(ctx context.Context) (*vulndb.DB, error)
	// Check is Ensure without opening the database.
	Check(ctx context.Context) (*vulndb.DB, error)
	// Use is Ensure, holding trivy-db's process-global handle on this
	// database until release.
	Use(ctx context.Context) (db *vulndb.DB, release func(), err error)
}

// Local detects with the local Trivy database and keeps Trivy's layer
// cache in cacheDir.
type Local struct {
	db       Database
	cacheDir string

	once      sync.Once
	layers    cache.Cache
	layersErr error
	fallback  bool
	claims    *layerClaims
}

// NewLocal builds the local back end.
func NewLocal(database Database, cacheDir string) *Local {
	return &Local{db: database, cacheDir: cacheDir, claims: newLayerClaims()}
}

// DB makes sure the database is present and fresh. It is opened only when
// a scan (or a coverage question) needs it: Scan and hasBucket take it
// through Use.
func (l *Local) DB(ctx context.Context) (DBInfo, error) {
	d, err := l.db.Check(ctx)
	if err != nil {
		return DBInfo{}, err
	}
	return dbInfo(d), nil
}

func dbInfo(d *vulndb.DB) DBInfo {
	return DBInfo{DB: report.DB{SchemaVersion: d.Metadata.Version, UpdatedAt: d.Metadata.UpdatedAt, NextUpdate: d.Metadata.NextUpdate, Source: d.Source}, Warnings: d.Warnings}
}

// scrubbedMarker in cache_dir/fanal says that every analysis in fanal.db
// was scrubbed of secret text. A fanal.db without it was written by an
// older imageguard (or the trivy CLI) and may quote secrets: it is deleted,
// not reused (bolt keeps overwritten values in free pages, so scrubbing
// entries in place would not erase them).
const scrubbedMarker = "imageguard-scrubbed-v1"

// layerCache opens Trivy's on-disk layer cache once per process, storing
// only scrubbed analyses. Another process holding it (bolt takes an
// exclusive lock) makes this process use an in-memory cache: slower, never
// wrong. A layer cache reached through a link is an error.
func (l *Local) layerCache() (cache.Cache, error) {
	l.once.Do(func() {
		if l.cacheDir != "" {
			if err := PrepareCacheDir(l.cacheDir); err != nil {
				l.layersErr = err
				return
			}
			fs, err := l.openFSCache()
			if err == nil {
				l.layers = scrubbingStore{fs}
				return
			}
			var u *UntrustedCacheFileError
			if errors.As(err, &u) {
				l.layersErr = err
				return
			}
		}
		l.fallback = true
		l.layers = scrubbingStore{cache.NewMemoryCache()}
	})
	return l.layers, l.layersErr
}

func (l *Local) openFSCache() (cache.Cache, error) {
	dir := filepath.Join(l.cacheDir, "fanal")
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if err := checkSubdir(dir); err != nil {
		return nil, err
	}
	db := filepath.Join(dir, "fanal.db")
	if fi, err := os.Lstat(db); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, &UntrustedCacheFileError{Path: db, Reason: "is a symbolic link or not a regular file (cache files are never read through links)"}
		}
		if _, err := os.Lstat(filepath.Join(dir, scrubbedMarker)); err != nil {
			if err := os.Remove(db); err != nil {
				return nil, err
			}
		}
	}
	fs, err := cache.NewFSCache(l.cacheDir)
	if err != nil {
		return nil, err
	}
	if f, err := os.OpenFile(filepath.Join(dir, scrubbedMarker), os.O_WRONLY|os.O_CREATE, 0o600); err == nil {
		_ = f.Close()
	}
	return fs, nil
}

// Close releases Trivy's layer cache (bolt holds a lock on it while open).
// The Local cannot scan afterwards.
func (l *Local) Close() error {
	l.once.Do(func() {})
	if l.layers == nil {
		return nil
	}
	return l.layers.Close()
}

// Scan analyses the image and detects with the local database.
func (l *Local) Scan(ctx context.Context, img ftypes.Image, opts Options) (types.Report, DBInfo, error) {
	d, release, err := l.db.Use(ctx)
	if err != nil {
		return types.Report{}, DBInfo{}, err
	}
	defer release()
	c, err := l.layerCache()
	if err != nil {
		return types.Report{}, DBInfo{}, err
	}
	claiming := l.claims.wrap(c)
	defer claiming.releaseAll()
	art, err := artimage.NewArtifact(img, claiming, ArtifactOption(opts))
	if err != nil {
		return types.Report{}, DBInfo{}, fmt.Errorf("preparing the image for analysis: %w", err)
	}
	svc := local.NewService(applier.NewApplier(c), ospkg.NewScanner(), langpkg.NewScanner(), vulnerability.NewClient(db.Config{}))
	report, err := trivyscan.NewService(svc, art).ScanArtifact(ctx, ScanOptions(opts))
	if err != nil {
		return types.Report{}, DBInfo{}, err
	}
	return report, dbInfo(d), nil
}

// ArtifactOption is Trivy's artifact configuration for `trivy image
// --scanners <scanners> --pkg-types <types>` with default flags: lock files
// are not analysed in images (Trivy reads installed packages instead),
// misconfiguration, license and executable analysers are off.
func ArtifactOption(opts Options) artifact.Option {
	opts = opts.normalized()
	disabled := slices.Clone(analyzer.TypeLockfiles)
	disabled = append(disabled, analyzer.TypeApkCommand)
	if !slices.Contains(opts.PkgTypes, PkgTypeLib) {
		disabled = append(disabled, analyzer.TypeLanguages...)
	}
	if !slices.Contains(opts.Scanners, ScannerSecret) {
		disabled = append(disabled, analyzer.TypeSecret, analyzer.TypeImageConfigSecret)
	}
	disabled = append(disabled, analyzer.TypeConfigFiles...)
	disabled = append(disabled, analyzer.TypeLicenseFile, analyzer.TypeHistoryDockerfile, analyzer.TypeExecutable, analyzer.TypeRpmArchive)
	if !slices.Contains(opts.Scanners, ScannerVuln) {
		disabled = append(disabled, analyzer.TypeJar)
	}
	return artifact.Option{
		DisabledAnalyzers: disabled,
		Parallel:          5,
		NoProgress:        true,
		// Never ask Maven Central about JARs: plans must not depend on it.
		Offline: true,
		// Trivy's CLI default: part of the layer cache key, so the provider
		// and the trivy CLI analyse alike. (A server's cache is not shared
		// with Trivy's clients: imageguard keys it with a secret, layerkeys.go.)
		DetectionPriority: ftypes.PriorityPrecise,
	}
}

// ScanOptions is Trivy's scan configuration matching ArtifactOption.
func ScanOptions(opts Options) types.ScanOptions {
	opts = opts.normalized()
	var scanners types.Scanners
	for _, s := range opts.Scanners {
		switch s {
		case ScannerVuln:
			scanners = append(scanners, types.VulnerabilityScanner)
		case ScannerSecret:
			scanners = append(scanners, types.SecretScanner)
		}
	}
	return types.ScanOptions{
		PkgTypes:            opts.PkgTypes,
		PkgRelationships:    ftypes.Relationships,
		Scanners:            scanners,
		VulnSeveritySources: []dbTypes.SourceID{"auto"},
	}
}

// Package scan runs Trivy v0.74.0 as a library over one image digest and
// returns its findings: OS and language packages against the vulnerability
// database, and secrets in layers and in the image config. Images are read
// straight from the registry through the provider's client (no Docker daemon,
// no trivy binary). Trivy's layer cache lives in the provider's cache_dir, so
// a layer analysed once is never downloaded again, and a report is cached per
// (platform digest, database version, options) in memory and on disk.
package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	dbTypes "github.com/aquasecurity/trivy-db/pkg/types"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	tlog "github.com/aquasecurity/trivy/pkg/log"
	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

// TrivyVersion is the Trivy library imageguard embeds; it is part of every
// cache key, so an upgrade never reuses reports made by another version.
const TrivyVersion = "0.74.0"

// cacheSchema versions the on-disk report cache format.
const cacheSchema = 2

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
	Version    int
	UpdatedAt  time.Time
	NextUpdate time.Time
	// Source says where it came from: a repository, "cache", or a server URL.
	Source string
	// Warnings are things the user must hear about, e.g. that the update
	// failed and a cached copy within max_age was used.
	Warnings []string
}

// Backend detects vulnerabilities for an analysed image: the local database,
// or a shared `trivy server`.
type Backend interface {
	// DB makes sure the database is usable (present, fresh, open) and says
	// which one it is. It fails closed.
	DB(ctx context.Context) (DBInfo, error)
	// Scan analyses the image (downloading only layers the layer cache lacks)
	// and detects vulnerabilities and secrets.
	Scan(ctx context.Context, img ftypes.Image, opts Options) (types.Report, error)
}

// Scanner scans platform images and caches the reports.
type Scanner struct {
	reg      *registry.Client
	backend  Backend
	cacheDir string

	mu      sync.Mutex
	reports map[string]*pending

	analyses atomic.Int64
}

type pending struct {
	done   chan struct{}
	report *types.Report
	err    error
}

// New builds a scanner over a registry client and a back end. cacheDir holds
// the on-disk report cache ("" disables it).
func New(reg *registry.Client, backend Backend, cacheDir string) *Scanner {
	return &Scanner{reg: reg, backend: backend, cacheDir: cacheDir, reports: map[string]*pending{}}
}

// Analyses counts the Trivy analyses this scanner ran (cache misses).
func (s *Scanner) Analyses() int64 { return s.analyses.Load() }

// Target is one platform image of a resolved reference.
type Target struct {
	Resolved *registry.Resolved
	Platform registry.PlatformManifest
}

// Scan returns Trivy's report for one platform image, from the memory or
// disk cache when the same digest was scanned with the same database and
// options, else by running Trivy.
func (s *Scanner) Scan(ctx context.Context, t Target, opts Options) (*types.Report, DBInfo, error) {
	opts = opts.normalized()
	db, err := s.backend.DB(ctx)
	if err != nil {
		return nil, DBInfo{}, err
	}
	key := cacheKey(t.Platform.Digest.String(), db, opts)

	s.mu.Lock()
	if p, ok := s.reports[key]; ok {
		s.mu.Unlock()
		<-p.done
		if p.err == nil {
			return p.report, db, nil
		}
		return nil, db, p.err
	}
	p := &pending{done: make(chan struct{})}
	s.reports[key] = p
	s.mu.Unlock()

	p.report, p.err = s.scanUncached(ctx, t, opts, key)
	if p.err != nil {
		s.mu.Lock()
		delete(s.reports, key)
		s.mu.Unlock()
	}
	close(p.done)
	return p.report, db, p.err
}

func (s *Scanner) scanUncached(ctx context.Context, t Target, opts Options, key string) (*types.Report, error) {
	if r, ok := s.readDisk(key); ok {
		return r, nil
	}
	img, err := s.reg.ImageByDigest(ctx, t.Resolved.Ref, t.Platform.Digest, nil)
	if err != nil {
		return nil, err
	}
	raw, err := v1Manifest(ctx, s.reg, t)
	if err != nil {
		return nil, err
	}
	if enc := encryptedLayers(img); len(enc) > 0 {
		return nil, fmt.Errorf("%s (%s) has encrypted layers (%s) that Trivy cannot read: the image cannot be scanned, and an unscanned image never passes. "+
			"Scan the image before encryption, or exclude it from this gate deliberately", t.Resolved.Ref.Input, t.Platform.Digest, enc[0])
	}
	timg, err := newRegistryImage(t.Resolved.Ref.Repository, t.Resolved.Ref.Tag, t.Platform.Digest, img.MediaType, raw, img.RawConfig, s.reg.RemoteOptions())
	if err != nil {
		return nil, err
	}
	s.analyses.Add(1)
	report, err := s.backend.Scan(ctx, timg, opts)
	if err != nil {
		if rerr := asRegistryError(t, err); rerr != nil {
			return nil, rerr
		}
		return nil, fmt.Errorf("Trivy could not scan %s (%s): %w", t.Resolved.Ref.Input, t.Platform.Digest, err)
	}
	s.writeDisk(key, &report)
	return &report, nil
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
	}{cacheSchema, TrivyVersion, digest, db.Version, db.UpdatedAt.UTC(), opts.Scanners, opts.PkgTypes})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *Scanner) diskPath(key string) string {
	return filepath.Join(s.cacheDir, "reports", key[:2], key+".json")
}

func (s *Scanner) readDisk(key string) (*types.Report, bool) {
	if s.cacheDir == "" {
		return nil, false
	}
	b, err := os.ReadFile(s.diskPath(key))
	if err != nil {
		return nil, false
	}
	var r types.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, false // a corrupt entry is a miss, never a pass
	}
	return &r, true
}

func (s *Scanner) writeDisk(key string, r *types.Report) {
	if s.cacheDir == "" {
		return
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	p := s.diskPath(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".report-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	_ = os.Rename(tmp.Name(), p)
}

// severityRank orders Trivy's severities; higher is worse.
func severityRank(s string) int {
	sev, err := dbTypes.NewSeverity(s)
	if err != nil {
		return 0
	}
	return int(sev)
}

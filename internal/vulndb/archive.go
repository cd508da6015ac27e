package vulndb

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	bolt "go.etcd.io/bbolt"
)

const (
	dbFile       = "trivy.db"
	metadataFile = "metadata.json"
	// sourceFile records where this provider downloaded the database from;
	// trivy ignores it.
	sourceFile = "imageguard-source.json"
	// maxMetadataSize bounds metadata.json (it is ~120 bytes).
	maxMetadataSize = 1 << 20
	// boltOpenTimeout bounds the wait for a shared lock on a bolt file.
	boltOpenTimeout = 2 * time.Second
)

// extract unpacks a trivy-db archive (gzip'd tar with trivy.db and
// metadata.json at the top, as `tar czf db.tar.gz trivy.db metadata.json`
// makes it) into dir. Entries are matched by their cleaned name ("./trivy.db"
// is fine); other regular files and directories are skipped; an entry that
// would leave dir, and a link or device named like a database file, is an
// error. It reads r to the end so that the caller's digest check sees all
// of it.
func extract(r io.Reader, dir string, compressedSize int64) error {
	return extractFiles(r, dir, compressedSize, dbFile, metadataFile)
}

// minExpansionLimit and expansionRatio bound what an archive may unpack
// to: max(minExpansionLimit, expansionRatio × its compressed size). A
// decompression bomb from a hostile or broken mirror then cannot fill the
// worker's disk, while the real databases (trivy-db unpacks to ~13 times
// its size, the Java DB to less) stay far inside. A variable for tests.
var minExpansionLimit int64 = 4 << 30

const expansionRatio = 100

// errExpandsTooFar is an archive that unpacks beyond its limit.
var errExpandsTooFar = errors.New("the archive unpacks to more than it may")

func expansionLimit(compressedSize int64) int64 {
	if compressedSize > 0 && compressedSize < math.MaxInt64/expansionRatio && compressedSize*expansionRatio > minExpansionLimit {
		return compressedSize * expansionRatio
	}
	return minExpansionLimit
}

// limitReason says where expansionLimit's figure comes from.
func limitReason(compressedSize int64) string {
	if expansionLimit(compressedSize) == minExpansionLimit {
		return fmt.Sprintf("the least any archive may unpack to (the compressed layer has %d bytes)", compressedSize)
	}
	return fmt.Sprintf("%d times the %d bytes of the compressed layer", expansionRatio, compressedSize)
}

// extractFiles is extract for an archive holding the named files (the Java
// DB's trivy-java.db and metadata.json).
func extractFiles(r io.Reader, dir string, compressedSize int64, files ...string) error {
	budget := expansionLimit(compressedSize)
	wanted := map[string]bool{}
	for _, f := range files {
		wanted[f] = true
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("the layer is not gzip-compressed: %w", err)
	}
	tr := tar.NewReader(gz)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("the archive is not a valid tar.gz: %w", err)
		}
		if strings.Contains(h.Name, `\`) || !filepath.IsLocal(filepath.FromSlash(h.Name)) {
			return fmt.Errorf("the archive has an entry %q outside its root", h.Name)
		}
		name := path.Clean(h.Name)
		if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
			if !filepath.IsLocal(filepath.FromSlash(h.Linkname)) {
				return fmt.Errorf("the archive has a link %q pointing outside its root (%q)", h.Name, h.Linkname)
			}
		}
		if !wanted[name] {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("the archive entry %q is not a regular file", h.Name)
		}
		if seen[name] {
			return fmt.Errorf("the archive has %s twice", name)
		}
		seen[name] = true
		n, err := writeFile(filepath.Join(dir, name), tr, budget)
		if errors.Is(err, errExpandsTooFar) {
			return fmt.Errorf("%w: %s takes it past %d bytes, %s (a decompression bomb?)", errExpandsTooFar, name, expansionLimit(compressedSize), limitReason(compressedSize))
		}
		if err != nil {
			return fmt.Errorf("could not write %s: %w", name, err)
		}
		budget -= n
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("the archive is not a valid tar.gz: %w", err)
	}
	// Read what is left (tar padding, a second gzip member) so that the
	// registry client checks the digest of the whole blob.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	for _, n := range files {
		if !seen[n] {
			return fmt.Errorf("the archive has no %s (it should hold %s)", n, strings.Join(files, " and "))
		}
	}
	return nil
}

// writeFile writes at most budget bytes of r to a new file p; more is
// errExpandsTooFar.
func writeFile(p string, r io.Reader, budget int64) (int64, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, io.LimitReader(r, budget+1))
	if err == nil && n > budget {
		err = errExpandsTooFar
	}
	if err != nil {
		_ = f.Close()
		return n, err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return n, err
	}
	return n, f.Close()
}

// problem is why a database directory cannot be used; the caller turns it
// into a sentence naming where the directory came from.
type problem struct {
	kind error
	// what is the part of a sentence after the subject, e.g. "has schema
	// version 1, but this provider needs version 2".
	what string
	err  error
}

func (p *problem) Error() string { return p.what }
func (p *problem) Unwrap() []error {
	if p.err == nil {
		return []error{p.kind}
	}
	return []error{p.kind, p.err}
}

// validate checks a database directory without touching trivy-db's global
// handle: metadata.json parses and has the supported schema version and an
// UpdatedAt, and trivy.db is a bolt file with at least one bucket (opened
// read-only, with a short timeout).
func validate(dir string) (Metadata, error) {
	// The cache is never read through links: a link could put a database
	// or metadata from anywhere in the judging seat.
	for _, p := range []string{dir, metadata.Path(dir), trivydb.Path(dir)} {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return Metadata{}, &problem{kind: ErrCorrupt, what: fmt.Sprintf("has a symbolic link at %s (cache files are never read through links)", p)}
		}
	}
	meta, err := readMetadata(dir)
	if err != nil {
		return Metadata{}, err
	}
	if meta.Version != trivydb.SchemaVersion {
		return meta, &problem{kind: ErrSchema, what: fmt.Sprintf("has schema version %d, but this provider needs version %d (the `:%d` tag of trivy-db)", meta.Version, trivydb.SchemaVersion, trivydb.SchemaVersion)}
	}
	if meta.UpdatedAt.IsZero() {
		return meta, &problem{kind: ErrCorrupt, what: "has a metadata.json without UpdatedAt"}
	}
	if err := checkBolt(trivydb.Path(dir)); err != nil {
		return meta, err
	}
	return meta, nil
}

func readMetadata(dir string) (Metadata, error) {
	p := metadata.Path(dir)
	f, err := os.OpenFile(p, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Metadata{}, &problem{kind: ErrCorrupt, what: "has no metadata.json", err: err}
		}
		return Metadata{}, &problem{kind: ErrCorrupt, what: fmt.Sprintf("has an unreadable metadata.json (%v)", err), err: err}
	}
	defer f.Close()
	var m metadata.Metadata
	if err := json.NewDecoder(io.LimitReader(f, maxMetadataSize)).Decode(&m); err != nil {
		return Metadata{}, &problem{kind: ErrCorrupt, what: fmt.Sprintf("has a metadata.json that does not parse (%v)", err), err: err}
	}
	return Metadata{Version: m.Version, UpdatedAt: m.UpdatedAt, NextUpdate: m.NextUpdate, DownloadedAt: m.DownloadedAt}, nil
}

func writeMetadata(dir string, m Metadata) error {
	return metadata.NewClient(dir).Update(metadata.Metadata{
		Version:      m.Version,
		UpdatedAt:    m.UpdatedAt,
		NextUpdate:   m.NextUpdate,
		DownloadedAt: m.DownloadedAt,
	})
}

func checkBolt(p string) (err error) {
	if _, err := os.Stat(p); err != nil {
		return &problem{kind: ErrCorrupt, what: "has no trivy.db", err: err}
	}
	// A damaged file can make bolt fault on its memory map; report that
	// like any other corruption.
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = &problem{kind: ErrCorrupt, what: fmt.Sprintf("has a damaged trivy.db (%v)", r)}
		}
	}()
	db, err := bolt.Open(p, 0o444, &bolt.Options{ReadOnly: true, Timeout: boltOpenTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return &problem{kind: ErrCacheDir, what: "has a trivy.db that another process holds locked for writing", err: err}
		}
		return &problem{kind: ErrCorrupt, what: fmt.Sprintf("has a trivy.db that is not a readable bolt database (%v)", err), err: err}
	}
	defer db.Close()
	buckets := 0
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func([]byte, *bolt.Bucket) error {
			buckets++
			return nil
		})
	})
	if err != nil {
		return &problem{kind: ErrCorrupt, what: fmt.Sprintf("has a trivy.db that cannot be read (%v)", err), err: err}
	}
	if buckets == 0 {
		return &problem{kind: ErrCorrupt, what: "has an empty trivy.db"}
	}
	return nil
}

// source is sourceFile: the artifact a cached database came from. It is
// trusted only while metadata.json still says the same UpdatedAt (the trivy
// CLI may have replaced the database in place).
type source struct {
	Repository  string    `json:"repository"`
	LayerDigest string    `json:"layerDigest"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

func readSource(dir string, meta Metadata) *source {
	f, err := os.OpenFile(filepath.Join(dir, sourceFile), os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetadataSize))
	if err != nil {
		return nil
	}
	var s source
	if json.Unmarshal(b, &s) != nil || !s.UpdatedAt.Equal(meta.UpdatedAt) || s.LayerDigest == "" {
		return nil
	}
	return &s
}

func writeSource(dir string, s source) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, sourceFile), b, 0o644)
}

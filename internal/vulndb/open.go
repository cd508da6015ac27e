package vulndb

import (
	"context"
	"fmt"
	"sync"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	bolt "go.etcd.io/bbolt"
)

// trivy-db keeps the open database in a package variable that Trivy's
// detectors read, so one database is open per process at a time. proc
// tracks which one. A provider process normally has one Manager; when it has
// several (aliases with their own cache_dir, or tests), a scan holds handle
// for reading through Use, and switching the open database takes it for
// writing, so a scan never reads a database other than the one it was given.
var proc struct {
	mu     sync.Mutex
	opened bool
	// ident identifies the open database: directory and metadata.
	ident string
	opens int
}

var handle sync.RWMutex

func identOf(dir string, meta Metadata) string {
	return fmt.Sprintf("%s|%d|%s|%s", dir, meta.Version, meta.UpdatedAt.UTC().Format("2006-01-02T15:04:05.999999999Z"), meta.DownloadedAt.UTC().Format("2006-01-02T15:04:05.999999999Z"))
}

// Use returns the Manager's database (see Ensure) with trivy-db's global
// handle pointing at it; the handle stays on it until release is called.
// Scans must hold it for as long as Trivy's detectors run.
func (m *Manager) Use(ctx context.Context) (*DB, func(), error) {
	db, err := m.Ensure(ctx)
	if err != nil {
		return nil, nil, err
	}
	ident := identOf(db.Dir, db.Metadata)
	for {
		handle.RLock()
		proc.mu.Lock()
		current := proc.opened && proc.ident == ident
		proc.mu.Unlock()
		if current {
			return db, handle.RUnlock, nil
		}
		handle.RUnlock()
		if err := openExclusive(db.Dir, db.Metadata); err != nil {
			return nil, nil, err
		}
	}
}

// openExclusive switches the handle once no scan is reading it.
func openExclusive(dir string, meta Metadata) error {
	ident := identOf(dir, meta)
	proc.mu.Lock()
	current := proc.opened && proc.ident == ident
	proc.mu.Unlock()
	if current {
		return nil // already open: no need to wait for scans holding it
	}
	handle.Lock()
	defer handle.Unlock()
	return open(dir, meta)
}

// openDB and closeDB open and close trivy-db's global handle. Tests may
// replace them; the defaults open read-only, as the trivy CLI does, so that
// several processes can share the cache.
var (
	openDB = func(dir string) error {
		return trivydb.Init(dir, trivydb.WithBoltOptions(&bolt.Options{ReadOnly: true, Timeout: boltOpenTimeout}))
	}
	closeDB = trivydb.Close
)

// open makes trivy-db's global handle point at the database in dir: a
// no-op when it already does, an Init the first time, a Close and Init when
// a different database was installed since.
func open(dir string, meta Metadata) error {
	ident := identOf(dir, meta)
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.opened && proc.ident == ident {
		return nil
	}
	if proc.opened {
		_ = closeDB()
		proc.opened = false
	}
	if err := openDB(dir); err != nil {
		return newError(ErrCorrupt, err, "The vulnerability database in %s passed its checks but Trivy could not open it: %s Delete %s so that it is downloaded again.", dir, sentence(err), dir)
	}
	proc.opened, proc.ident = true, ident
	proc.opens++
	return nil
}

// ResetForTesting closes trivy-db's global handle. Never call it while
// scans may run.
func ResetForTesting() {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.opened {
		_ = closeDB()
	}
	proc.opened, proc.ident, proc.opens = false, "", 0
}

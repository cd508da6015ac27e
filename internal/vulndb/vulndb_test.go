package vulndb

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

var testNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

const repoTag = "aquasec/trivy-db:2"

// isolate gives a test its own view of the process-wide state: no cache
// directory claimed and trivy-db's global handle closed afterwards.
func isolate(t *testing.T) {
	t.Helper()
	ResetForTesting()
	t.Cleanup(ResetForTesting)
}

func opens() int {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	return proc.opens
}

// meta is fixture metadata relative to testNow.
func meta(updatedAgo, nextUpdateIn time.Duration) acctest.DBMeta {
	return acctest.DBMeta{UpdatedAt: testNow.Add(-updatedAgo), NextUpdate: testNow.Add(nextUpdateIn)}
}

func options(cacheDir string, repos ...string) Options {
	return Options{
		Repositories: repos,
		CacheDir:     cacheDir,
		Now:          func() time.Time { return testNow },
		// One try: the tests' failures are not transient.
		RemoteOptions: []remote.Option{remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Steps: 1})},
	}
}

func ensure(t *testing.T, opts Options) (*DB, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return NewManager(opts).Ensure(ctx)
}

func mustEnsure(t *testing.T, opts Options) *DB {
	t.Helper()
	db, err := ensure(t, opts)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return db
}

func advisories(t *testing.T, source, pkg string) []string {
	t.Helper()
	advs, err := trivydb.Config{}.GetAdvisories(source, pkg)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range advs {
		ids = append(ids, a.VulnerabilityID)
	}
	return ids
}

func wantError(t *testing.T, err error, kinds []error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Ensure succeeded, want an error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("error %T is not an *Error: %v", err, err)
	}
	for _, k := range kinds {
		if !errors.Is(err, k) {
			t.Errorf("error is not %v: %v", k, err)
		}
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error does not mention %q:\n%v", f, err)
		}
	}
	if msg := err.Error(); !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, ").") {
		t.Errorf("error is not a full sentence: %q", msg)
	}
}

func TestDownloadAndReuse(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	m := meta(2*time.Hour, 22*time.Hour)
	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, m))
	cacheDir := t.TempDir()
	repo := reg.Ref(repoTag)
	opts := options(cacheDir, repo)

	mgr := NewManager(opts)
	db, err := mgr.Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if db.Source != repo || db.CacheDir != cacheDir || db.Dir != filepath.Join(cacheDir, "db") || len(db.Warnings) != 0 {
		t.Errorf("db = %+v", db)
	}
	want := Metadata{Version: 2, UpdatedAt: m.UpdatedAt, NextUpdate: m.NextUpdate, DownloadedAt: testNow}
	if !db.Metadata.UpdatedAt.Equal(want.UpdatedAt) || !db.Metadata.NextUpdate.Equal(want.NextUpdate) || !db.Metadata.DownloadedAt.Equal(want.DownloadedAt) || db.Metadata.Version != 2 {
		t.Errorf("metadata = %+v, want %+v", db.Metadata, want)
	}
	if got := db.Age(testNow); got != 2*time.Hour {
		t.Errorf("Age = %v", got)
	}
	if !strings.HasPrefix(db.Digest, "sha256:") {
		t.Errorf("Digest = %q", db.Digest)
	}
	// The layout trivy's --cache-dir uses, with DownloadedAt written back.
	onDisk, err := readMetadata(filepath.Join(cacheDir, "db"))
	if err != nil || !onDisk.DownloadedAt.Equal(testNow) {
		t.Errorf("metadata.json = %+v, %v", onDisk, err)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "db", "trivy.db")); err != nil {
		t.Error(err)
	}
	if got := advisories(t, "alpine 3.23", "musl"); len(got) != 1 || got[0] != "CVE-2025-26519" {
		t.Errorf("musl advisories = %v", got)
	}
	if n := reg.CountBlobs(); n != 1 {
		t.Errorf("blob requests = %d, want 1 (the layer)", n)
	}

	// Same Manager: no request at all.
	reg.ResetRequests()
	again, err := mgr.Ensure(context.Background())
	if err != nil || again.Source != repo {
		t.Fatalf("second Ensure = %+v, %v", again, err)
	}
	if n := len(reg.Requests()); n != 0 {
		t.Errorf("second Ensure made %d requests: %v", n, reg.Requests())
	}

	// A new Manager (next provider process): NextUpdate is in the future,
	// so the cached copy is used without asking the registry.
	db2 := mustEnsure(t, opts)
	if db2.Source != "cache" || !db2.Metadata.UpdatedAt.Equal(m.UpdatedAt) || db2.Digest != db.Digest {
		t.Errorf("cached db = %+v", db2)
	}
	if n := len(reg.Requests()); n != 0 {
		t.Errorf("new Manager with a fresh cache made %d requests: %v", n, reg.Requests())
	}
	if n := opens(); n != 1 {
		t.Errorf("trivy-db opened %d times, want 1", n)
	}
}

func TestCacheDueButUnchangedSkipsBlob(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(30*time.Hour, -6*time.Hour)))
	opts := options(t.TempDir(), reg.Ref(repoTag))
	mustEnsure(t, opts)

	// NextUpdate has passed, but the mirror still serves the same layer:
	// one manifest request, no blob download.
	reg.ResetRequests()
	db := mustEnsure(t, opts)
	if db.Source != "cache" {
		t.Errorf("Source = %q", db.Source)
	}
	if reg.CountBlobs() != 0 || reg.CountManifests() != 1 {
		t.Errorf("requests = %v, want one manifest request", reg.Requests())
	}
}

func TestNewAdvisoryIsPickedUp(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(30*time.Hour, -6*time.Hour)))
	opts := options(t.TempDir(), reg.Ref(repoTag))
	mustEnsure(t, opts)
	if got := advisories(t, "alpine 3.23", "musl"); len(got) != 1 {
		t.Fatalf("musl advisories = %v", got)
	}

	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories, acctest.FixtureNewAdvisory}, meta(time.Hour, 23*time.Hour)))
	db := mustEnsure(t, opts)
	if db.Source != reg.Ref(repoTag) || !db.Metadata.UpdatedAt.Equal(testNow.Add(-time.Hour)) {
		t.Errorf("db = %+v", db)
	}
	if got := advisories(t, "alpine 3.23", "musl"); len(got) != 2 {
		t.Errorf("after the update, musl advisories = %v, want 2", got)
	}
	if n := opens(); n != 2 {
		t.Errorf("trivy-db opened %d times, want 2 (re-opened on the new database)", n)
	}
	if n := reg.CountBlobs(); n != 1 {
		t.Errorf("blob requests = %d", n)
	}
}

func TestFailures(t *testing.T) {
	garbage := make([]byte, 4096)
	_, _ = rand.Read(garbage)

	tests := []struct {
		name string
		// push prepares the registry; it returns the repositories to use.
		push      func(t *testing.T, reg *acctest.Registry) []string
		cache     *acctest.DBMeta // a cached copy built before Ensure
		skip      bool
		down      bool
		kinds     []error
		fragments func(reg *acctest.Registry, cacheDir string) []string
	}{
		{
			name: "stale download",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(100*time.Hour, -76*time.Hour)))
				return []string{reg.Ref(repoTag)}
			},
			kinds: []error{ErrStale},
			fragments: func(reg *acctest.Registry, _ string) []string {
				return []string{"4d4h ago", reg.Ref(repoTag), "max_age (72h)", "oras cp ghcr.io/aquasecurity/trivy-db:2 " + reg.Ref(repoTag), "crane copy"}
			},
		},
		{
			name:  "missing with skip_update",
			skip:  true,
			kinds: []error{ErrMissing},
			fragments: func(_ *acctest.Registry, cacheDir string) []string {
				return []string{filepath.Join(cacheDir, "db"), "skip_update", "download-db-only"}
			},
		},
		{
			name:  "stale cache with skip_update",
			skip:  true,
			cache: &acctest.DBMeta{UpdatedAt: testNow.Add(-80 * time.Hour), NextUpdate: testNow.Add(-56 * time.Hour)},
			kinds: []error{ErrStale},
			fragments: func(_ *acctest.Registry, cacheDir string) []string {
				return []string{"cached copy in " + filepath.Join(cacheDir, "db"), "3d8h ago", "without skip_update"}
			},
		},
		{
			name:  "wrong schema in cache with skip_update",
			skip:  true,
			cache: &acctest.DBMeta{Version: 1, UpdatedAt: testNow.Add(-time.Hour), NextUpdate: testNow.Add(time.Hour)},
			kinds: []error{ErrSchema},
			fragments: func(_ *acctest.Registry, cacheDir string) []string {
				return []string{filepath.Join(cacheDir, "db"), "schema version 1", "needs version 2"}
			},
		},
		{
			name: "corrupt archive",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				reg.PushTrivyDB(t, repoTag, garbage)
				return []string{reg.Ref(repoTag)}
			},
			kinds: []error{ErrUnavailable, ErrMissing, ErrCorrupt},
			fragments: func(reg *acctest.Registry, _ string) []string {
				return []string{reg.Ref(repoTag) + " serves a corrupt database archive", "gzip", "no cached copy"}
			},
		},
		{
			name: "bolt file unreadable",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				reg.PushTrivyDB(t, repoTag, acctest.TarGz(t,
					acctest.ArchiveEntry{Name: "trivy.db", Content: garbage},
					acctest.ArchiveEntry{Name: "metadata.json", Content: []byte(`{"Version":2,"UpdatedAt":"2026-03-10T10:00:00Z","NextUpdate":"2026-03-11T10:00:00Z"}`)},
				))
				return []string{reg.Ref(repoTag)}
			},
			kinds: []error{ErrUnavailable, ErrCorrupt},
			fragments: func(reg *acctest.Registry, _ string) []string {
				return []string{reg.Ref(repoTag), "not a readable bolt database"}
			},
		},
		{
			name: "metadata does not parse",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				reg.PushTrivyDB(t, repoTag, acctest.TarGz(t,
					acctest.ArchiveEntry{Name: "trivy.db", Content: garbage},
					acctest.ArchiveEntry{Name: "metadata.json", Content: []byte(`{"Version":`)},
				))
				return []string{reg.Ref(repoTag)}
			},
			kinds: []error{ErrUnavailable, ErrCorrupt},
			fragments: func(reg *acctest.Registry, _ string) []string {
				return []string{reg.Ref(repoTag), "metadata.json that does not parse"}
			},
		},
		{
			name: "path traversal",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				reg.PushTrivyDB(t, repoTag, acctest.TarGz(t,
					acctest.ArchiveEntry{Name: "../../escaped", Content: []byte("x")},
					acctest.ArchiveEntry{Name: "trivy.db", Content: garbage},
				))
				return []string{reg.Ref(repoTag)}
			},
			kinds: []error{ErrUnavailable, ErrCorrupt},
			fragments: func(reg *acctest.Registry, _ string) []string {
				return []string{reg.Ref(repoTag), `"../../escaped" outside its root`}
			},
		},
		{
			name: "archive without metadata",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				reg.PushTrivyDB(t, repoTag, acctest.TarGz(t, acctest.ArchiveEntry{Name: "trivy.db", Content: garbage}))
				return []string{reg.Ref(repoTag)}
			},
			kinds: []error{ErrCorrupt},
			fragments: func(*acctest.Registry, string) []string {
				return []string{"has no metadata.json"}
			},
		},
		{
			name: "wrong media type",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				archive := acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(time.Hour, time.Hour))
				reg.PushArtifact(t, "aquasec/trivy-java-db:1", acctest.TrivyArtifactType, "javadb.tar.gz", "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip", archive)
				return []string{reg.Ref("aquasec/trivy-java-db:1")}
			},
			kinds: []error{ErrUnavailable, ErrArtifact},
			fragments: func(reg *acctest.Registry, _ string) []string {
				return []string{reg.Ref("aquasec/trivy-java-db:1"), "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip", MediaType}
			},
		},
		{
			name: "container image instead of a database",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				reg.Push(t, "library/alpine:3.20", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2"), acctest.NpmLayer("app")))
				return []string{reg.Ref("library/alpine:3.20")}
			},
			kinds: []error{ErrArtifact},
			fragments: func(reg *acctest.Registry, _ string) []string {
				return []string{reg.Ref("library/alpine:3.20"), "2 layers"}
			},
		},
		{
			name: "wrong schema version",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.DBMeta{Version: 1, UpdatedAt: testNow.Add(-time.Hour), NextUpdate: testNow.Add(time.Hour)}))
				return []string{reg.Ref(repoTag)}
			},
			kinds: []error{ErrUnavailable, ErrSchema},
			fragments: func(reg *acctest.Registry, _ string) []string {
				return []string{reg.Ref(repoTag), "schema version 1", "needs version 2"}
			},
		},
		{
			name: "unreachable without cache",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(time.Hour, time.Hour)))
				return []string{reg.Ref(repoTag), "127.0.0.1:1/aquasec/trivy-db:2"}
			},
			down:  true,
			kinds: []error{ErrUnavailable, ErrMissing},
			fragments: func(reg *acctest.Registry, cacheDir string) []string {
				return []string{reg.Ref(repoTag) + " could not be fetched", "127.0.0.1:1/aquasec/trivy-db:2 could not be fetched", "no cached copy in " + filepath.Join(cacheDir, "db")}
			},
		},
		{
			name: "unreachable with stale cache",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				return []string{reg.Ref(repoTag)}
			},
			cache: &acctest.DBMeta{UpdatedAt: testNow.Add(-73 * time.Hour), NextUpdate: testNow.Add(-49 * time.Hour)},
			down:  true,
			kinds: []error{ErrStale},
			fragments: func(reg *acctest.Registry, cacheDir string) []string {
				return []string{"cached copy in " + filepath.Join(cacheDir, "db"), "3d1h ago", reg.Ref(repoTag) + " could not be fetched"}
			},
		},
		{
			name: "future-dated download",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.DBMeta{UpdatedAt: testNow.Add(2 * time.Hour), NextUpdate: testNow.Add(26 * time.Hour)}))
				return []string{reg.Ref(repoTag)}
			},
			kinds: []error{ErrUnavailable, ErrMissing, ErrFuture},
			fragments: func(reg *acctest.Registry, _ string) []string {
				return []string{reg.Ref(repoTag) + " serves a vulnerability database updated at 2026-03-10T14:00:00Z, 2h after this machine's clock (2026-03-10T12:00:00Z)", "from the future is refused", "no cached copy"}
			},
		},
		{
			name:  "future-dated cache",
			cache: &acctest.DBMeta{UpdatedAt: testNow.Add(48 * time.Hour), NextUpdate: testNow.Add(72 * time.Hour)},
			kinds: []error{ErrFuture},
			fragments: func(_ *acctest.Registry, cacheDir string) []string {
				return []string{"cached vulnerability database in " + filepath.Join(cacheDir, "db"), "updated at 2026-03-12T12:00:00Z, 2d after this machine's clock", "Delete " + filepath.Join(cacheDir, "db") + " so that a new copy is downloaded"}
			},
		},
		{
			name:  "future-dated cache with skip_update",
			skip:  true,
			cache: &acctest.DBMeta{UpdatedAt: testNow.Add(10 * time.Minute), NextUpdate: testNow.Add(24 * time.Hour)},
			kinds: []error{ErrFuture},
			fragments: func(_ *acctest.Registry, cacheDir string) []string {
				return []string{"2026-03-10T12:10:00Z, 10m after", "Delete " + filepath.Join(cacheDir, "db")}
			},
		},
		{
			name: "corrupt cache and no repository",
			push: func(t *testing.T, reg *acctest.Registry) []string {
				return []string{reg.Ref("nothing/here:2")}
			},
			cache: &acctest.DBMeta{Version: 1, UpdatedAt: testNow.Add(-time.Hour), NextUpdate: testNow.Add(-time.Minute)},
			kinds: []error{ErrUnavailable, ErrSchema},
			fragments: func(reg *acctest.Registry, cacheDir string) []string {
				return []string{"the cached copy has schema version 1", reg.Ref("nothing/here:2")}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			reg := acctest.NewRegistry(t)
			var repos []string
			if tc.push != nil {
				repos = tc.push(t, reg)
			} else {
				repos = []string{reg.Ref(repoTag)}
			}
			cacheDir := t.TempDir()
			if tc.cache != nil {
				acctest.BuildTrivyDB(t, filepath.Join(cacheDir, "db"), []string{acctest.FixtureAdvisories}, *tc.cache)
			}
			reg.SetDown(tc.down)
			reg.ResetRequests()
			opts := options(cacheDir, repos...)
			opts.SkipUpdate = tc.skip
			_, err := ensure(t, opts)
			wantError(t, err, tc.kinds, tc.fragments(reg, cacheDir)...)
			if tc.skip && len(reg.Requests()) != 0 {
				t.Errorf("skip_update made requests: %v", reg.Requests())
			}
			if opens() != 0 {
				t.Errorf("a failed Ensure opened the database")
			}
			// Nothing escaped the cache directory; no temporary directory is left.
			if _, err := os.Stat(filepath.Join(filepath.Dir(cacheDir), "escaped")); err == nil {
				t.Errorf("path traversal wrote outside the cache")
			}
			entries, _ := os.ReadDir(cacheDir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".db-") {
					t.Errorf("left over: %s", e.Name())
				}
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestUnreachableWithFreshCache(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(30*time.Hour, -6*time.Hour)))
	opts := options(t.TempDir(), reg.Ref(repoTag))
	first := mustEnsure(t, opts)

	// NextUpdate has passed, so the next process tries to download; the
	// registry is down but the cached copy is 30h old, within max_age.
	reg.SetDown(true)
	db := mustEnsure(t, opts)
	if db.Source != "cache" || !db.Metadata.UpdatedAt.Equal(first.Metadata.UpdatedAt) {
		t.Errorf("db = %+v", db)
	}
	if len(db.Warnings) != 1 || !strings.Contains(db.Warnings[0], "could not be updated") || !strings.Contains(db.Warnings[0], "1d6h ago") || !strings.Contains(db.Warnings[0], reg.Ref(repoTag)) {
		t.Errorf("warnings = %q", db.Warnings)
	}
	if got := advisories(t, "debian 12", "zlib"); len(got) != 1 {
		t.Errorf("zlib advisories = %v", got)
	}
}

func TestFirstRepositoryMissingSecondWorks(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	reg.PushTrivyDB(t, "mirror/trivy-db:2", acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(time.Hour, 23*time.Hour)))
	first, second := reg.Ref("aquasec/trivy-db:2"), reg.Ref("mirror/trivy-db:2")
	db := mustEnsure(t, options(t.TempDir(), first, second))
	if db.Source != second {
		t.Errorf("Source = %q, want %q", db.Source, second)
	}
	if len(db.Warnings) != 1 || !strings.Contains(db.Warnings[0], first) {
		t.Errorf("warnings = %q", db.Warnings)
	}
	if got := advisories(t, "npm::", "lodash"); len(got) != 1 {
		t.Errorf("lodash advisories = %v", got)
	}
}

func TestMirrorBehindCacheKeepsCache(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(20*time.Hour, -time.Hour)))
	cacheDir := t.TempDir()
	acctest.BuildTrivyDB(t, filepath.Join(cacheDir, "db"), []string{acctest.FixtureAdvisories, acctest.FixtureNewAdvisory}, meta(10*time.Hour, -time.Minute))
	db := mustEnsure(t, options(cacheDir, reg.Ref(repoTag)))
	if db.Source != "cache" || !db.Metadata.UpdatedAt.Equal(testNow.Add(-10*time.Hour)) {
		t.Errorf("db = %+v", db)
	}
	if len(db.Warnings) != 1 || !strings.Contains(db.Warnings[0], "older than the cached copy") {
		t.Errorf("warnings = %q", db.Warnings)
	}
	if got := advisories(t, "alpine 3.23", "musl"); len(got) != 2 {
		t.Errorf("musl advisories = %v", got)
	}
}

func TestSkipUpdateUsesCacheWithoutNetwork(t *testing.T) {
	isolate(t)
	cacheDir := t.TempDir()
	// A copy placed by other tools (e.g. oras pull): DownloadedAt zero, no
	// source file, NextUpdate passed: skip_update still uses it.
	acctest.BuildTrivyDB(t, filepath.Join(cacheDir, "db"), []string{acctest.FixtureAdvisories}, meta(5*time.Hour, -time.Hour))
	opts := options(cacheDir, "127.0.0.1:1/unreachable/trivy-db:2")
	opts.SkipUpdate = true
	db := mustEnsure(t, opts)
	if db.Source != "cache" || db.Digest != "" || len(db.Warnings) != 0 {
		t.Errorf("db = %+v", db)
	}
}

func TestMaxAge(t *testing.T) {
	isolate(t)
	cacheDir := t.TempDir()
	acctest.BuildTrivyDB(t, filepath.Join(cacheDir, "db"), []string{acctest.FixtureAdvisories}, meta(5*time.Hour, time.Hour))
	opts := options(cacheDir)
	opts.SkipUpdate = true
	opts.MaxAge = 4 * time.Hour
	_, err := ensure(t, opts)
	wantError(t, err, []error{ErrStale}, "5h ago", "max_age (4h)")

	isolate(t)
	opts.MaxAge = 6 * time.Hour
	mustEnsure(t, opts)
}

func TestTwoCacheDirsInOneProcess(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(time.Hour, 23*time.Hour)))
	first := NewManager(options(t.TempDir(), reg.Ref(repoTag)))
	second := NewManager(options(t.TempDir(), reg.Ref(repoTag)))
	ctx := context.Background()
	db1, release1, err := first.Use(ctx)
	if err != nil {
		t.Fatal(err)
	}
	switched := make(chan error, 1)
	go func() {
		_, release2, err := second.Use(ctx)
		if err == nil {
			release2()
		}
		switched <- err
	}()
	select {
	case err := <-switched:
		t.Fatalf("the second database was opened while a scan held the first: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	release1()
	if err := <-switched; err != nil {
		t.Fatal(err)
	}
	db1again, release, err := first.Use(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if db1again.Dir != db1.Dir {
		t.Fatalf("dir changed: %s vs %s", db1again.Dir, db1.Dir)
	}
}

func TestParallelManagersDownloadOnce(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(time.Hour, 23*time.Hour)))
	opts := options(t.TempDir(), reg.Ref(repoTag))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = NewManager(opts).Ensure(context.Background())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := reg.CountBlobs(); n != 1 {
		t.Errorf("blob requests = %d, want 1: the lock lets one Manager download", n)
	}
}

func TestLockWaitHonoursContext(t *testing.T) {
	isolate(t)
	cacheDir := t.TempDir()
	unlock, err := lockFile(context.Background(), filepath.Join(cacheDir, "db.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	mgr := NewManager(options(cacheDir, "127.0.0.1:1/x/trivy-db:2"))
	start := time.Now()
	_, err = mgr.Ensure(ctx)
	if time.Since(start) > 5*time.Second {
		t.Errorf("Ensure waited %v", time.Since(start))
	}
	wantError(t, err, []error{ErrCacheDir, context.DeadlineExceeded}, "db.lock")

	// A cancelled attempt is not remembered: the next call tries again.
	unlock()
	_, err = mgr.Ensure(context.Background())
	wantError(t, err, []error{ErrUnavailable, ErrMissing}, "127.0.0.1:1/x/trivy-db:2")
}

func TestParseRepository(t *testing.T) {
	m := NewManager(Options{CacheDir: t.TempDir(), Insecure: func(r string) bool { return r == "mirror.internal:5000" }})
	cases := map[string]string{
		"mirror.example.com/aquasec/trivy-db":                           "mirror.example.com/aquasec/trivy-db:2",
		"mirror.example.com/aquasec/trivy-db:2":                         "mirror.example.com/aquasec/trivy-db:2",
		"mirror.example.com/trivy-db@sha256:" + strings.Repeat("a", 64): "mirror.example.com/trivy-db@sha256:" + strings.Repeat("a", 64),
	}
	for in, want := range cases {
		ref, err := m.parseRepository(in)
		if err != nil || ref.String() != want {
			t.Errorf("parseRepository(%q) = %v, %v; want %s", in, ref, err, want)
		}
	}
	ref, err := m.parseRepository("mirror.internal:5000/trivy-db")
	if err != nil || ref.Context().Registry.Scheme() != "http" || ref.Identifier() != "2" {
		t.Errorf("insecure mirror = %v (scheme %s), %v", ref, ref.Context().Registry.Scheme(), err)
	}
	ref, _ = m.parseRepository("mirror.example.com/trivy-db")
	if ref.Context().Registry.Scheme() != "https" {
		t.Errorf("secure mirror scheme = %s", ref.Context().Registry.Scheme())
	}
	if len(m.opts.Repositories) != 2 || m.opts.Repositories[0] != "mirror.gcr.io/aquasec/trivy-db:2" || m.maxAge != 72*time.Hour {
		t.Errorf("defaults = %v, %v", m.opts.Repositories, m.maxAge)
	}
}

func TestFormatAge(t *testing.T) {
	cases := map[time.Duration]string{
		100 * time.Hour:                 "4d4h",
		72 * time.Hour:                  "3d",
		5*time.Hour + 20*time.Minute:    "5h",
		42*time.Minute + 10*time.Second: "42m",
		3 * time.Second:                 "3s",
	}
	for d, want := range cases {
		if got := formatAge(d); got != want {
			t.Errorf("formatAge(%v) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{72 * time.Hour: "72h", 90 * time.Minute: "1h30m", 45 * time.Minute: "45m"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFutureDatedDownloadNeverReplacesCache(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	// The cache is due for an update (NextUpdate passed) but within max_age;
	// the mirror now serves a database that claims to be from tomorrow.
	cacheDir := t.TempDir()
	dbDir := filepath.Join(cacheDir, "db")
	acctest.BuildTrivyDB(t, dbDir, []string{acctest.FixtureAdvisories}, meta(30*time.Hour, -6*time.Hour))
	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories, acctest.FixtureNewAdvisory}, acctest.DBMeta{UpdatedAt: testNow.Add(24 * time.Hour), NextUpdate: testNow.Add(48 * time.Hour)}))
	opts := options(cacheDir, reg.Ref(repoTag))

	db := mustEnsure(t, opts)
	if db.Source != "cache" || !db.Metadata.UpdatedAt.Equal(testNow.Add(-30*time.Hour)) {
		t.Errorf("db = %+v, want the cached copy", db)
	}
	if len(db.Warnings) != 1 || !strings.Contains(db.Warnings[0], "could not be updated") || !strings.Contains(db.Warnings[0], "from the future is refused") || !strings.Contains(db.Warnings[0], reg.Ref(repoTag)) {
		t.Errorf("warnings = %q", db.Warnings)
	}
	onDisk, err := readMetadata(dbDir)
	if err != nil || !onDisk.UpdatedAt.Equal(testNow.Add(-30*time.Hour)) {
		t.Errorf("cached metadata.json = %+v, %v: the future-dated download replaced it", onDisk, err)
	}
	if got := advisories(t, "alpine 3.23", "musl"); len(got) != 1 {
		t.Errorf("musl advisories = %v, want only the cached copy's one", got)
	}

	// Past max_age, the refused download leaves nothing to use: an error
	// that names the mirror's future date, never the future copy.
	isolate(t)
	opts.MaxAge = 24 * time.Hour
	_, err = ensure(t, opts)
	wantError(t, err, []error{ErrStale, ErrFuture}, "1d6h ago", reg.Ref(repoTag)+" serves a vulnerability database updated at 2026-03-11T12:00:00Z, 1d after")
	if onDisk, _ := readMetadata(dbDir); !onDisk.UpdatedAt.Equal(testNow.Add(-30 * time.Hour)) {
		t.Errorf("cached metadata.json = %+v", onDisk)
	}
}

func TestClockSkewWithinToleranceAccepted(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	ahead := MaxClockSkew - time.Minute
	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.DBMeta{UpdatedAt: testNow.Add(ahead), NextUpdate: testNow.Add(24 * time.Hour)}))
	opts := options(t.TempDir(), reg.Ref(repoTag))
	db := mustEnsure(t, opts)
	if db.Source != reg.Ref(repoTag) || !db.Metadata.UpdatedAt.Equal(testNow.Add(ahead)) {
		t.Errorf("db = %+v", db)
	}
	// The same copy, cached, is trusted by the next process too.
	isolate(t)
	if db := mustEnsure(t, opts); db.Source != "cache" {
		t.Errorf("cached db = %+v", db)
	}
}

func TestFutureDatedCacheIsNotReplacedSilently(t *testing.T) {
	isolate(t)
	reg := acctest.NewRegistry(t)
	// Even with a good database on the mirror, a cached copy from the
	// future is an error that says what to do, and is left for the user.
	reg.PushTrivyDB(t, repoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(time.Hour, 23*time.Hour)))
	cacheDir := t.TempDir()
	dbDir := filepath.Join(cacheDir, "db")
	acctest.BuildTrivyDB(t, dbDir, []string{acctest.FixtureAdvisories}, acctest.DBMeta{UpdatedAt: testNow.Add(6 * time.Hour), NextUpdate: testNow.Add(30 * time.Hour)})
	_, err := ensure(t, options(cacheDir, reg.Ref(repoTag)))
	wantError(t, err, []error{ErrFuture}, "6h after this machine's clock", "Delete "+dbDir)
	if n := len(reg.Requests()); n != 0 {
		t.Errorf("requests = %v", reg.Requests())
	}

	// Once the user deletes it, the mirror's copy is downloaded.
	if err := os.RemoveAll(dbDir); err != nil {
		t.Fatal(err)
	}
	isolate(t)
	if db := mustEnsure(t, options(cacheDir, reg.Ref(repoTag))); db.Source != reg.Ref(repoTag) {
		t.Errorf("db = %+v", db)
	}
}

// A mirror serving a decompression bomb (a small layer that unpacks to far
// more than any real database) is refused before it fills the disk, and
// leaves nothing behind. The floor of the limit is lowered so that the test
// writes megabytes, not gigabytes; the ratio is the real one.
func TestDecompressionBombRefused(t *testing.T) {
	isolate(t)
	saved := minExpansionLimit
	minExpansionLimit = 1 << 20
	t.Cleanup(func() { minExpansionLimit = saved })

	reg := acctest.NewRegistry(t)
	bomb := acctest.TarGz(t,
		acctest.ArchiveEntry{Name: "metadata.json", Content: []byte(`{"Version":2,"UpdatedAt":"2026-03-10T10:00:00Z","NextUpdate":"2026-03-11T10:00:00Z"}`)},
		acctest.ArchiveEntry{Name: "trivy.db", Content: make([]byte, 16<<20)},
	)
	if len(bomb)*expansionRatio > 16<<20 {
		t.Fatalf("the fixture compresses to %d bytes: not a bomb under the %d× ratio", len(bomb), expansionRatio)
	}
	reg.PushTrivyDB(t, repoTag, bomb)
	cacheDir := t.TempDir()
	_, err := ensure(t, options(cacheDir, reg.Ref(repoTag)))
	wantError(t, err, []error{ErrUnavailable, ErrCorrupt}, reg.Ref(repoTag)+" serves a corrupt database archive", fmt.Sprintf("trivy.db takes it past %d bytes, 100 times the %d bytes of the compressed layer", len(bomb)*expansionRatio, len(bomb)), "decompression bomb")
	var size int64
	_ = filepath.WalkDir(cacheDir, func(_ string, d os.DirEntry, _ error) error {
		if info, err := d.Info(); err == nil && !d.IsDir() {
			size += info.Size()
		}
		return nil
	})
	if size > 2<<20 {
		t.Fatalf("the cache directory holds %d bytes after the refusal", size)
	}
}

func TestExpansionLimit(t *testing.T) {
	for _, tc := range []struct{ compressed, want int64 }{
		{0, minExpansionLimit},
		{-1, minExpansionLimit},
		{1 << 20, minExpansionLimit},            // small layers get the floor
		{100 << 20, 100 * expansionRatio << 20}, // the public trivy-db's size
		{math.MaxInt64 / 2, minExpansionLimit},  // no overflow into a negative limit
	} {
		if got := expansionLimit(tc.compressed); got != tc.want {
			t.Errorf("expansionLimit(%d) = %d, want %d", tc.compressed, got, tc.want)
		}
	}
}

func TestLimitReasonNamesTheFloor(t *testing.T) {
	if got := limitReason(16 << 10); !strings.Contains(got, "the least any archive may unpack to") {
		t.Errorf("a small layer is held to the floor, but the message says %q", got)
	}
	if got := limitReason(100 << 20); got != fmt.Sprintf("%d times the %d bytes of the compressed layer", expansionRatio, 100<<20) {
		t.Errorf("a large layer is held to the ratio, but the message says %q", got)
	}
}

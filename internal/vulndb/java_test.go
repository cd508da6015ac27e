package vulndb

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

const javaRepoTag = "aquasec/trivy-java-db:1"

// javaArchive is a Java DB artifact's layer: trivy-java.db (only the SQLite
// header matters here; Trivy opens it, not this package) and metadata.json.
func javaArchive(t *testing.T, version int, updatedAt, nextUpdate time.Time) []byte {
	t.Helper()
	meta, err := json.Marshal(map[string]any{"Version": version, "UpdatedAt": updatedAt.UTC(), "NextUpdate": nextUpdate.UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return acctest.TarGz(t,
		acctest.ArchiveEntry{Name: "trivy-java.db", Content: append([]byte("SQLite format 3\x00"), make([]byte, 4080)...)},
		acctest.ArchiveEntry{Name: "metadata.json", Content: meta})
}

func pushJava(t *testing.T, reg *acctest.Registry, updatedAgo, nextUpdateIn time.Duration) {
	t.Helper()
	reg.PushArtifact(t, javaRepoTag, acctest.TrivyArtifactType, "javadb.tar.gz", JavaMediaType, javaArchive(t, 1, testNow.Add(-updatedAgo), testNow.Add(nextUpdateIn)))
}

func ensureJava(t *testing.T, opts Options) (*JavaDB, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return NewJavaManager(opts).Ensure(ctx)
}

// countingTransport stands for the registry client's transport.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestJavaDownloadUsesRegistryCredentialsAndTransport(t *testing.T) {
	reg := acctest.NewRegistry(t, acctest.WithBasicAuth("ci", "s3cret"))
	pushJava(t, reg, 2*time.Hour, 70*time.Hour)
	cacheDir := t.TempDir()
	repo := reg.Ref(javaRepoTag)

	// Without the registry's credentials the download fails, closed.
	_, err := ensureJava(t, options(cacheDir, repo))
	wantError(t, err, []error{ErrUnavailable, ErrMissing}, repo+" could not be fetched", "No Java DB is available", "java_repositories")

	tr := &countingTransport{}
	opts := options(cacheDir, repo)
	opts.RemoteOptions = append(opts.RemoteOptions, remote.WithAuth(&authn.Basic{Username: "ci", Password: "s3cret"}), remote.WithTransport(tr))
	db, err := ensureJava(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	if tr.n.Load() == 0 {
		t.Error("the download did not go through the given transport")
	}
	if db.Source != repo || db.Dir != filepath.Join(cacheDir, "java-db") || db.CacheDir != cacheDir || !db.Metadata.UpdatedAt.Equal(testNow.Add(-2*time.Hour)) || len(db.Warnings) != 0 {
		t.Errorf("db = %+v", db)
	}
	// Trivy's layout, DownloadedAt written back.
	if _, err := os.Stat(filepath.Join(cacheDir, "java-db", "trivy-java.db")); err != nil {
		t.Error(err)
	}
	onDisk, err := readMetadata(filepath.Join(cacheDir, "java-db"))
	if err != nil || onDisk.Version != 1 || !onDisk.DownloadedAt.Equal(testNow) {
		t.Errorf("metadata.json = %+v, %v", onDisk, err)
	}

	// The next process uses the cached copy without a request.
	reg.ResetRequests()
	db2, err := ensureJava(t, opts)
	if err != nil || db2.Source != "cache" {
		t.Fatalf("cached = %+v, %v", db2, err)
	}
	if n := len(reg.Requests()); n != 0 {
		t.Errorf("requests = %v", reg.Requests())
	}
}

func TestJavaUnchangedMirrorSkipsBlob(t *testing.T) {
	reg := acctest.NewRegistry(t)
	pushJava(t, reg, 30*time.Hour, -time.Hour) // due for an update
	opts := options(t.TempDir(), reg.Ref(javaRepoTag))
	if _, err := ensureJava(t, opts); err != nil {
		t.Fatal(err)
	}
	reg.ResetRequests()
	db, err := ensureJava(t, opts)
	if err != nil || db.Source != "cache" {
		t.Fatalf("db = %+v, %v", db, err)
	}
	if reg.CountBlobs() != 0 || reg.CountManifests() != 1 {
		t.Errorf("requests = %v, want one manifest request", reg.Requests())
	}
}

func TestJavaFreshness(t *testing.T) {
	t.Run("stale download fails closed", func(t *testing.T) {
		reg := acctest.NewRegistry(t)
		pushJava(t, reg, 100*time.Hour, -28*time.Hour)
		_, err := ensureJava(t, options(t.TempDir(), reg.Ref(javaRepoTag)))
		wantError(t, err, []error{ErrStale}, "Java DB from "+reg.Ref(javaRepoTag)+" was updated 4d4h ago", "max_age (72h)", "JAR files cannot be judged")
	})
	t.Run("max_age is the provider's", func(t *testing.T) {
		reg := acctest.NewRegistry(t)
		pushJava(t, reg, 5*time.Hour, 20*time.Hour)
		opts := options(t.TempDir(), reg.Ref(javaRepoTag))
		opts.MaxAge = 4 * time.Hour
		_, err := ensureJava(t, opts)
		wantError(t, err, []error{ErrStale}, "5h ago", "max_age (4h)")
		opts.MaxAge = 6 * time.Hour
		if _, err := ensureJava(t, opts); err != nil {
			t.Error(err)
		}
	})
	t.Run("unreachable with a cache within max_age warns", func(t *testing.T) {
		reg := acctest.NewRegistry(t)
		pushJava(t, reg, 30*time.Hour, -6*time.Hour)
		opts := options(t.TempDir(), reg.Ref(javaRepoTag))
		if _, err := ensureJava(t, opts); err != nil {
			t.Fatal(err)
		}
		reg.SetDown(true)
		db, err := ensureJava(t, opts)
		if err != nil || db.Source != "cache" || len(db.Warnings) != 1 || !strings.Contains(db.Warnings[0], "could not be updated") {
			t.Errorf("db = %+v, %v", db, err)
		}
	})
	t.Run("unreachable with a stale cache fails closed", func(t *testing.T) {
		reg := acctest.NewRegistry(t)
		pushJava(t, reg, 30*time.Hour, -6*time.Hour)
		opts := options(t.TempDir(), reg.Ref(javaRepoTag))
		if _, err := ensureJava(t, opts); err != nil {
			t.Fatal(err)
		}
		reg.SetDown(true)
		opts.MaxAge = 24 * time.Hour
		_, err := ensureJava(t, opts)
		wantError(t, err, []error{ErrStale}, "in the cached copy in "+filepath.Join(opts.CacheDir, "java-db"), "1d6h ago", "max_age (24h)")
	})
	t.Run("skip_update without a cache", func(t *testing.T) {
		opts := options(t.TempDir(), "127.0.0.1:1/unreachable/trivy-java-db:1")
		opts.SkipUpdate = true
		_, err := ensureJava(t, opts)
		wantError(t, err, []error{ErrMissing}, "skip_update", "download-java-db-only")
	})
}

func TestJavaFromTheFuture(t *testing.T) {
	reg := acctest.NewRegistry(t)
	pushJava(t, reg, 30*time.Hour, -6*time.Hour)
	cacheDir := t.TempDir()
	opts := options(cacheDir, reg.Ref(javaRepoTag))
	if _, err := ensureJava(t, opts); err != nil {
		t.Fatal(err)
	}
	// The mirror now serves a Java DB from tomorrow: refused, the cached
	// copy (within max_age) stays and is used.
	reg.PushArtifact(t, javaRepoTag, acctest.TrivyArtifactType, "javadb.tar.gz", JavaMediaType, javaArchive(t, 1, testNow.Add(24*time.Hour), testNow.Add(48*time.Hour)))
	db, err := ensureJava(t, opts)
	if err != nil || db.Source != "cache" || !db.Metadata.UpdatedAt.Equal(testNow.Add(-30*time.Hour)) {
		t.Fatalf("db = %+v, %v", db, err)
	}
	if len(db.Warnings) != 1 || !strings.Contains(db.Warnings[0], "updated at 2026-03-11T12:00:00Z, 1d after this machine's clock") {
		t.Errorf("warnings = %q", db.Warnings)
	}
	if m, _ := readMetadata(filepath.Join(cacheDir, "java-db")); !m.UpdatedAt.Equal(testNow.Add(-30 * time.Hour)) {
		t.Errorf("the future-dated copy replaced the cache: %+v", m)
	}

	// A cached copy from the future is an error that says what to do.
	future := t.TempDir()
	dir := filepath.Join(future, "java-db")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := extractFiles(strings.NewReader(string(javaArchive(t, 1, testNow.Add(3*time.Hour), testNow.Add(27*time.Hour)))), dir, 0, javaDBFile, metadataFile); err != nil {
		t.Fatal(err)
	}
	_, err = ensureJava(t, options(future, reg.Ref(javaRepoTag)))
	wantError(t, err, []error{ErrFuture}, "cached Java DB in "+dir, "3h after this machine's clock", "Delete "+dir)
}

func TestJavaNotAJavaDB(t *testing.T) {
	reg := acctest.NewRegistry(t)
	// The vulnerability database pushed where the Java DB should be.
	reg.PushTrivyDB(t, javaRepoTag, acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, meta(time.Hour, time.Hour)))
	_, err := ensureJava(t, options(t.TempDir(), reg.Ref(javaRepoTag)))
	wantError(t, err, []error{ErrUnavailable, ErrArtifact}, reg.Ref(javaRepoTag)+" is not a Trivy Java DB", JavaMediaType)

	reg2 := acctest.NewRegistry(t)
	reg2.PushArtifact(t, javaRepoTag, acctest.TrivyArtifactType, "javadb.tar.gz", JavaMediaType, javaArchive(t, 2, testNow.Add(-time.Hour), testNow.Add(time.Hour)))
	_, err = ensureJava(t, options(t.TempDir(), reg2.Ref(javaRepoTag)))
	wantError(t, err, []error{ErrSchema}, "schema version 2", "reads version 1")
}

func TestJavaRepositoryDefaultTag(t *testing.T) {
	m := NewJavaManager(Options{CacheDir: t.TempDir()})
	ref, err := m.parseRepository("mirror.example.com/aquasec/trivy-java-db")
	if err != nil || ref.String() != "mirror.example.com/aquasec/trivy-java-db:1" {
		t.Errorf("ref = %v, %v", ref, err)
	}
	if got := m.opts.Repositories; len(got) != 2 || got[0] != DefaultJavaRepositories[0] {
		t.Errorf("default repositories = %v", got)
	}
}

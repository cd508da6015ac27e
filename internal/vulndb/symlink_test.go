package vulndb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// A cached database is never read through a link: a link could put a
// database, or metadata claiming freshness, from anywhere in its place.
func TestCachedDatabaseNotReadThroughLinks(t *testing.T) {
	for _, name := range []string{"metadata.json", "trivy.db", ""} {
		t.Run("link at db/"+name, func(t *testing.T) {
			isolate(t)
			cacheDir := t.TempDir()
			elsewhere := filepath.Join(t.TempDir(), "db")
			acctest.BuildTrivyDB(t, elsewhere, []string{acctest.FixtureAdvisories}, meta(time.Hour, 23*time.Hour))
			dbDir := filepath.Join(cacheDir, "db")
			if name == "" {
				if err := os.Symlink(elsewhere, dbDir); err != nil {
					t.Fatal(err)
				}
			} else {
				acctest.BuildTrivyDB(t, dbDir, []string{acctest.FixtureAdvisories}, meta(time.Hour, 23*time.Hour))
				p := filepath.Join(dbDir, name)
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.Join(elsewhere, name), p); err != nil {
					t.Fatal(err)
				}
			}
			opts := options(cacheDir)
			opts.SkipUpdate = true
			_, err := ensure(t, opts)
			if err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("a linked database was used: %v", err)
			}
		})
	}
	t.Run("control: the same database, no link, is used", func(t *testing.T) {
		isolate(t)
		cacheDir := t.TempDir()
		acctest.BuildTrivyDB(t, filepath.Join(cacheDir, "db"), []string{acctest.FixtureAdvisories}, meta(time.Hour, 23*time.Hour))
		opts := options(cacheDir)
		opts.SkipUpdate = true
		if _, err := ensure(t, opts); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(trivydb.Path(filepath.Join(cacheDir, "db"))); err != nil {
			t.Fatal(err)
		}
	})
}

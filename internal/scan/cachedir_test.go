package scan_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
)

// foreignDir returns a directory owned by another user: as root, one
// chowned to uid 1234; otherwise the root directory, owned by root.
func foreignDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return "/"
	}
	dir := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 1234, 1234); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPrepareCacheDir(t *testing.T) {
	chmodded := func(mode os.FileMode) func(t *testing.T) string {
		return func(t *testing.T) string {
			dir := filepath.Join(t.TempDir(), "cache")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			return dir
		}
	}
	cases := []struct {
		name string
		dir  func(t *testing.T) string
		// want is a regexp-free list of parts of the message; empty means
		// the directory is accepted.
		want []string
	}{
		{"missing → created 0700", func(t *testing.T) string { return filepath.Join(t.TempDir(), "a", "b") }, nil},
		{"0700 of mine → accepted", chmodded(0o700), nil},
		{"0755 of mine → accepted", chmodded(0o755), nil},
		{"group-writable → chmod 700", chmodded(0o770), []string{"writable by its group or by others (mode 0770)", "`chmod 700 ", "`cache_dir`"}},
		{"world-writable → chmod 700", chmodded(0o777), []string{"mode 0777", "`chmod 700 "}},
		{"another user's → use your own", foreignDir, []string{"is owned by uid", "not by the user running Terraform", "Use a directory you own"}},
		{"a file → not a directory", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{"is not a directory"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			err := scan.PrepareCacheDir(dir)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				fi, serr := os.Stat(dir)
				if serr != nil || !fi.IsDir() {
					t.Fatalf("not a directory afterwards: %v", serr)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s was trusted", dir)
			}
			for _, w := range append(tc.want, dir) {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("message lacks %q: %v", w, err)
				}
			}
		})
	}
	t.Run("created with mode 0700", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new")
		if err := scan.PrepareCacheDir(dir); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Fatalf("created with mode %04o", fi.Mode().Perm())
		}
	})
}

// reportFile returns the one cached report under dir.
func reportFile(t *testing.T, dir string) string {
	t.Helper()
	var files []string
	_ = filepath.WalkDir(filepath.Join(dir, "reports"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return err
	})
	if len(files) != 1 {
		t.Fatalf("want one report under %s, got %v", dir, files)
	}
	return files[0]
}

// A cached report is used only if it is a regular file of this user's that
// nobody else can write, reached without a link, and made for this scan: a
// report of a passing image planted at a failing image's key never passes it.
func TestCachedReportTrust(t *testing.T) {
	f := newSecretFixture(t)
	client := newClient(t)
	passing := resolveTarget(t, client, f.reg.Ref("alpine/fixed:1"))
	failing := resolveTarget(t, client, f.reg.Ref("alpine/vulnerable:1"))

	scanInto := func(t *testing.T, dir string, tg scan.Target) {
		t.Helper()
		l := scan.NewLocal(f.manager, dir)
		defer l.Close()
		if _, _, err := scan.New(client, l, dir).Scan(context.Background(), tg, scan.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	passDir := t.TempDir()
	scanInto(t, passDir, passing)
	passReport := reportFile(t, passDir)

	cases := []struct {
		name   string
		tamper func(t *testing.T, report string)
		want   string
	}{
		{"control: untouched → used", func(*testing.T, string) {}, ""},
		{"symlink to a passing report → not trusted", func(t *testing.T, report string) {
			if err := os.Remove(report); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(passReport, report); err != nil {
				t.Fatal(err)
			}
		}, "is a symbolic link"},
		{"passing report planted under the failing key → not trusted", func(t *testing.T, report string) {
			b, err := os.ReadFile(passReport)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(report, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "records the key"},
		{"group-writable report → not trusted", func(t *testing.T, report string) {
			if err := os.Chmod(report, 0o660); err != nil {
				t.Fatal(err)
			}
		}, "writable by its group or by others"},
		{"symlinked report directory → not trusted", func(t *testing.T, report string) {
			sub := filepath.Dir(report)
			elsewhere := filepath.Join(t.TempDir(), "elsewhere")
			if err := os.Rename(sub, elsewhere); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, sub); err != nil {
				t.Fatal(err)
			}
		}, "is a symbolic link"},
	}
	if os.Geteuid() == 0 {
		cases = append(cases, struct {
			name   string
			tamper func(t *testing.T, report string)
			want   string
		}{"report owned by another uid → not trusted", func(t *testing.T, report string) {
			if err := os.Chown(report, 1234, 1234); err != nil {
				t.Fatal(err)
			}
		}, "is owned by uid 1234"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			scanInto(t, dir, failing)
			report := reportFile(t, dir)
			tc.tamper(t, report)

			l := scan.NewLocal(f.manager, dir)
			defer l.Close()
			s := scan.New(client, l, dir)
			rep, _, err := s.Scan(context.Background(), failing, scan.Options{})
			if tc.want == "" {
				if err != nil || rep == nil || s.Analyses() != 0 {
					t.Fatalf("the untouched report was not used: %v, %d analyses", err, s.Analyses())
				}
				return
			}
			var u *scan.UntrustedCacheFileError
			if !errors.As(err, &u) {
				t.Fatalf("want an untrusted-cache error, got report=%v err=%v", rep != nil, err)
			}
			for _, w := range []string{tc.want, "was not trusted", "Delete it"} {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("message lacks %q: %v", w, err)
				}
			}
			if rep != nil {
				t.Fatal("a report came back with the error")
			}
		})
	}
}

package provider

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// The cache directory must be the user's own and writable by nobody else,
// whether it comes from `cache_dir` or IMAGEGUARD_CACHE_DIR.
func TestAccCache_untrustedDirectory(t *testing.T) {
	mkdir := func(t *testing.T, mode os.FileMode, uid int) string {
		dir := filepath.Join(t.TempDir(), "cache")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Chown(dir, uid, uid); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	scanCfg := func(cacheDir string) string {
		block := ""
		if cacheDir != "" {
			block = fmt.Sprintf("vulnerability_db {\n    cache_dir = %q\n  }", cacheDir)
		}
		return fmt.Sprintf(`
provider "imageguard" {
  %s
}
data "imageguard_scan" "x" {
  image = "registry.example.com/team/app@sha256:%064d"
}`, block, 0)
	}
	type tc struct {
		name, cacheDir, env, want string
	}
	groupWritable := mkdir(t, 0o770, -1)
	worldWritable := mkdir(t, 0o777, -1)
	cases := []tc{
		{"group-writable cache_dir", groupWritable, "", `(?s)Untrusted cache directory.*The cache directory ` + regexp.QuoteMeta(groupWritable) + ` is writable by its group or by others \(mode 0770\).*Run ` + "`" + `chmod 700 ` + regexp.QuoteMeta(groupWritable) + "`"},
		{"world-writable IMAGEGUARD_CACHE_DIR", "", worldWritable, `(?s)Untrusted cache directory.*` + regexp.QuoteMeta(worldWritable) + ` is writable by its group or by others \(mode 0777\).*chmod 700`},
	}
	if os.Geteuid() == 0 {
		theirs := mkdir(t, 0o700, 1234)
		cases = append(cases, tc{"cache_dir owned by another uid", theirs, "", `(?s)Untrusted cache directory.*` + regexp.QuoteMeta(theirs) + ` is owned by uid 1234, not by the user running Terraform \(uid 0\).*Use a directory you own`})
	} else {
		cases = append(cases, tc{"cache_dir owned by root", "/", "", `(?s)Untrusted cache directory.*The cache directory / is owned by uid 0.*Use a directory you own`})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("IMAGEGUARD_CACHE_DIR", c.env)
			}
			resource.UnitTest(t, resource.TestCase{
				PreCheck:                 preCheck(t),
				ProtoV6ProviderFactories: protoV6Factories,
				Steps:                    []resource.TestStep{{Config: scanCfg(c.cacheDir), ExpectError: wrapped(c.want)}},
			})
		})
	}
	t.Run("a missing cache_dir is created 0700", func(t *testing.T) {
		f := newScanFixture(t)
		dir := filepath.Join(t.TempDir(), "new", "cache")
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps: []resource.TestStep{{
				Config: fmt.Sprintf(`
provider "imageguard" {
  vulnerability_db {
    repositories = [%q]
    cache_dir    = %q
  }
}
data "imageguard_scan" "x" {
  image       = %q
  enforcement = "warn"
}`, f.dbRepo, dir, f.reg.Ref("alpine/vulnerable:1")),
				ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_scan.x", "findings", knownvalue.ListSizeExact(2))},
			}},
		})
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Fatalf("cache_dir created with mode %04o, want 0700", fi.Mode().Perm())
		}
	})
}

// Secret text planted in an image's config (env, history) and in a layer (a
// private key and the line above it).
const (
	cacheAWSSecret    = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzq8Rk3Xy1T"
	cacheEnvNeighbour = "neighbour-pw-7f3e91"
	cacheHistoryToken = "history-token-5b2c88"
	cacheKeyBody      = "MIIEowIBAAKCAQEA7bq1xGk3Zr9xQwFixtureBodyNotARealKey0123456789"
	cacheKeyPass      = "key-pass-19d4e2"
)

// No file under the cache directory (cached scan summaries, Trivy's layer
// cache fanal/fanal.db, the database) holds a secret's text, and the plan
// that reads the cached summary reaches the same verdict.
func TestAccCache_noSecretTextOnDisk(t *testing.T) {
	t.Parallel()
	f := newScanFixture(t)
	key := "passphrase=" + cacheKeyPass + "\n-----BEGIN RSA PRIVATE KEY-----\n" + cacheKeyBody + "\n" + cacheKeyBody + "\n-----END RSA PRIVATE KEY-----\n"
	f.reg.Push(t, "secret/deep:1", acctest.Image(acctest.Config{
		Env: []string{"PATH=/usr/bin", "DB_PASSWORD=" + cacheEnvNeighbour, "AWS_SECRET_ACCESS_KEY=" + cacheAWSSecret},
		History: []v1.History{
			{CreatedBy: "/bin/sh -c #(nop) ADD file:alpine in /"},
			{CreatedBy: "/bin/sh -c DEPLOY_TOKEN=" + cacheHistoryToken + " ./install-key.sh"},
		},
	},
		acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"}),
		acctest.Layer(acctest.File{Path: "app/"}, acctest.File{Path: "app/id_rsa", Content: key})))
	cfg := f.provider() + fmt.Sprintf(`
data "imageguard_scan" "x" {
  image       = %q
  enforcement = "warn"
}`, f.reg.Ref("secret/deep:1"))
	noSecretOnDisk := func(*terraform.State) error {
		files := 0
		var hits []string
		err := filepath.WalkDir(f.cacheDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files++
			for _, s := range []string{cacheAWSSecret, cacheEnvNeighbour, cacheHistoryToken, cacheKeyBody, cacheKeyPass} {
				if bytes.Contains(b, []byte(s)) {
					hits = append(hits, fmt.Sprintf("%s holds %q", p, s))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(hits) > 0 {
			return fmt.Errorf("secret text on disk: %v", hits)
		}
		for _, p := range []string{"fanal/fanal.db", "summaries"} {
			if _, err := os.Stat(filepath.Join(f.cacheDir, p)); err != nil {
				return fmt.Errorf("nothing cached at %s (%d files): %v", p, files, err)
			}
		}
		return nil
	}
	// The verdict's inputs, compared across the plans: a violation's text
	// also names where the database came from, which differs.
	sameSecrets := statecheck.CompareValue(compare.ValuesSame())
	sameFindings := statecheck.CompareValue(compare.ValuesSame())
	same := func() []statecheck.StateCheck {
		return []statecheck.StateCheck{
			sameSecrets.AddStateValue("data.imageguard_scan.x", tfjsonpath.New("secrets")),
			sameFindings.AddStateValue("data.imageguard_scan.x", tfjsonpath.New("findings")),
			check("data.imageguard_scan.x", "passed", knownvalue.Bool(false)),
		}
	}
	var blobs int
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigStateChecks: append(same(),
					check("data.imageguard_scan.x", "secrets", knownvalue.SetPartial([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"rule_id": knownvalue.StringExact("aws-secret-access-key"), "severity": knownvalue.StringExact("CRITICAL")}),
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"rule_id": knownvalue.StringExact("private-key"), "target": knownvalue.StringExact("/app/id_rsa"), "line": knownvalue.Int64Exact(3)}),
					})),
					check("data.imageguard_scan.x", "findings", knownvalue.ListPartial(map[int]knownvalue.Check{
						0: knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("CVE-2025-26519")}),
					})),
				),
				Check: noSecretOnDisk,
			},
			{
				// A new provider process: the report comes from the disk cache.
				PreConfig:         f.reg.ResetRequests,
				Config:            cfg,
				ConfigStateChecks: same(),
				Check: func(s *terraform.State) error {
					blobs = f.reg.CountBlobs()
					return noSecretOnDisk(s)
				},
			},
		},
	})
	if blobs != 0 {
		t.Fatalf("the cached plan fetched %d blobs: the cached report was not used", blobs)
	}
}

package scan_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aquasecurity/trivy/pkg/cache"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// Secret text planted in the fixture image. None of it may reach a file
// under the cache directory; the verdict must survive without it.
const (
	awsSecret    = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzq8Rk3Xy1T" // matches aws-secret-access-key
	envNeighbour = "neighbour-pw-7f3e91"                      // an env value beside it, matched by no rule
	historyToken = "history-token-5b2c88"                     // in the RUN line that made a layer
	keyBody      = "MIIEowIBAAKCAQEA7bq1xGk3Zr9xQwFixtureBodyNotARealKey0123456789"
	keyPassLine  = "key-pass-19d4e2" // the line above the key, matched by no rule
)

var secretStrings = []string{awsSecret, envNeighbour, historyToken, keyBody, keyPassLine}

// secretFixture is a registry with the fixture database, the scan fixture
// images, and secret/deep:1 with secrets in its config (env, history) and in
// a layer (a private key).
type secretFixture struct {
	reg     *acctest.Registry
	manager *vulndb.Manager
	ref     string
}

func newSecretFixture(t *testing.T) *secretFixture {
	t.Helper()
	reg := acctest.NewRegistry(t)
	reg.PushTrivyDB(t, "aquasecurity/trivy-db:2", acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(time.Now())))
	key := "passphrase=" + keyPassLine + "\n-----BEGIN RSA PRIVATE KEY-----\n" + keyBody + "\n" + keyBody + "\n-----END RSA PRIVATE KEY-----\n"
	reg.Push(t, "secret/deep:1", acctest.Image(acctest.Config{
		Env: []string{"PATH=/usr/bin", "DB_PASSWORD=" + envNeighbour, "AWS_SECRET_ACCESS_KEY=" + awsSecret, "LANG=C"},
		History: []v1.History{
			{CreatedBy: "/bin/sh -c #(nop) ADD file:alpine in /"},
			{CreatedBy: "/bin/sh -c DEPLOY_TOKEN=" + historyToken + " ./install-key.sh"},
		},
	},
		acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"}),
		acctest.Layer(acctest.File{Path: "app/"}, acctest.File{Path: "app/id_rsa", Content: key})))
	acctest.PushScanFixtures(t, reg, 0)
	client := newClient(t)
	manager := vulndb.NewManager(vulndb.Options{Repositories: []string{reg.Ref("aquasecurity/trivy-db:2")}, CacheDir: t.TempDir(), RemoteOptions: client.RemoteOptions()})
	return &secretFixture{reg: reg, manager: manager, ref: reg.Ref("secret/deep:1")}
}

// verdict is what the gates judge: findings and secrets without text.
func verdict(t *testing.T, s *scan.Scanner, tg scan.Target) []string {
	t.Helper()
	ctx := context.Background()
	rep, _, err := s.Scan(ctx, tg, scan.Options{})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	res, err := scan.Summarize(ctx, rep, tg.Platform.Platform, tg.Platform.Digest.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range res.Findings {
		out = append(out, "vuln "+f.ID+" "+f.Severity+" "+f.Package)
	}
	for _, sec := range res.Secrets {
		out = append(out, "secret "+sec.RuleID+" "+sec.Category+" "+sec.Severity+" "+sec.Target+" "+sec.Title+" line "+strconv.Itoa(sec.Line))
	}
	slices.Sort(out)
	return out
}

// grepCache fails if any file under dir holds any of the secret strings,
// and returns how many files it read.
func grepCache(t *testing.T, dir string) (files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, hit := range grepCacheQuiet(dir) {
		t.Error(hit)
	}
	return files
}

// grepCacheQuiet lists the secret strings found in files under dir.
func grepCacheQuiet(dir string) []string {
	var hits []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secretStrings {
			if i := bytes.Index(b, []byte(s)); i >= 0 {
				hits = append(hits, fmt.Sprintf("%s holds secret text %q: ...%q...", p, s, b[max(0, i-80):min(len(b), i+len(s)+20)]))
			}
		}
		return nil
	})
	return hits
}

// Neither cached reports nor Trivy's layer cache hold a secret's text, and
// a scan from either cache reaches the same verdict as the first.
func TestCacheHoldsNoSecretText(t *testing.T) {
	f := newSecretFixture(t)
	dir := t.TempDir()
	client := newClient(t)
	tg := resolveTarget(t, client, f.ref)

	first := scan.NewLocal(f.manager, dir)
	want := verdict(t, scan.New(client, first, dir), tg)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"secret aws-secret-access-key AWS CRITICAL",
		"secret private-key AsymmetricPrivateKey HIGH /app/id_rsa",
		"vuln CVE-2025-26519 HIGH musl",
	} {
		if !slices.ContainsFunc(want, func(s string) bool { return strings.HasPrefix(s, w) }) {
			t.Fatalf("the first scan lacks %q: %v", w, want)
		}
	}
	for _, p := range []string{filepath.Join(dir, "fanal", "fanal.db"), filepath.Join(dir, "reports")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("nothing was cached: %v", err)
		}
	}
	if n := grepCache(t, dir); n < 2 {
		t.Fatalf("only %d files under the cache directory", n)
	}

	// A new process: the report comes from the disk cache.
	fromReport := scan.New(client, scan.NewLocal(f.manager, dir), dir)
	if got := verdict(t, fromReport, tg); !slices.Equal(got, want) {
		t.Fatalf("cached report verdict differs:\n got %v\nwant %v", got, want)
	}
	if fromReport.Analyses() != 0 {
		t.Fatalf("the cached report was not used: %d analyses", fromReport.Analyses())
	}

	// Without the reports, the scrubbed layer cache alone: no layer is
	// downloaded again, and the verdict is the same.
	if err := os.RemoveAll(filepath.Join(dir, "reports")); err != nil {
		t.Fatal(err)
	}
	f.reg.ResetRequests()
	fromLayers := scan.NewLocal(f.manager, dir)
	defer fromLayers.Close()
	s := scan.New(client, fromLayers, dir)
	if got := verdict(t, s, tg); !slices.Equal(got, want) {
		t.Fatalf("verdict from the layer cache differs:\n got %v\nwant %v", got, want)
	}
	if s.Analyses() != 1 || f.reg.CountBlobs() != 0 {
		t.Fatalf("want one analysis from cached layers and no blob fetched, got %d analyses, %d blobs", s.Analyses(), f.reg.CountBlobs())
	}
	grepCache(t, dir)
}

// A layer cache written before scrubbing (no marker) may quote secrets: it
// is deleted, not reused.
func TestUnscrubbedLayerCacheIsDiscarded(t *testing.T) {
	f := newSecretFixture(t)
	dir := t.TempDir()
	client := newClient(t)
	tg := resolveTarget(t, client, f.ref)
	old, err := cache.NewFSCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = old.PutBlob(context.Background(), "sha256:0123", ftypes.BlobInfo{SchemaVersion: ftypes.BlobJSONSchemaVersion, CreatedBy: "RUN DEPLOY_TOKEN=" + historyToken,
		Secrets: []ftypes.Secret{{FilePath: "app/id_rsa", Findings: []ftypes.SecretFinding{{RuleID: "private-key", Match: "passphrase=" + keyPassLine}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(grepCacheQuiet(dir)); n == 0 {
		t.Fatal("the old layer cache holds no secret text: the test proves nothing")
	}
	l := scan.NewLocal(f.manager, dir)
	defer l.Close()
	verdict(t, scan.New(client, l, dir), tg)
	grepCache(t, dir)
}

// resolveTarget resolves a single-platform image as a plan does.
func resolveTarget(t *testing.T, client *registry.Client, ref string) scan.Target {
	t.Helper()
	ctx := context.Background()
	r, err := client.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := client.Resolve(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	pms, err := client.Platforms(ctx, resolved, nil)
	if err != nil || len(pms) != 1 {
		t.Fatalf("platforms of %s: %v %v", ref, pms, err)
	}
	return scan.Target{Resolved: resolved, Platform: pms[0]}
}

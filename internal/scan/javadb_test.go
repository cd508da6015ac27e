package scan_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // the Java DB indexes JARs by SHA-1
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	javadbdb "github.com/aquasecurity/trivy-java-db/pkg/db"
	javatypes "github.com/aquasecurity/trivy-java-db/pkg/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// mavenAdvisory: com.example:lib before 1.1 has CVE-2026-1000 (HIGH).
const mavenAdvisory = `- bucket: "maven::GitHub Security Advisory Maven"
  pairs:
    - bucket: com.example:lib
      pairs:
        - key: CVE-2026-1000
          value:
            PatchedVersions:
              - "1.1"
            VulnerableVersions:
              - "< 1.1"
- bucket: vulnerability
  pairs:
    - key: CVE-2026-1000
      value:
        Title: "lib: fixture vulnerability found only through the Java DB"
        Severity: HIGH
        VendorSeverity:
          ghsa: 3
- bucket: data-source
  pairs:
    - key: "maven::GitHub Security Advisory Maven"
      value:
        ID: "ghsa"
        Name: "GitHub Security Advisory Maven"
        URL: "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Amaven"
`

// anonymousJAR is a JAR with no pom.properties and no manifest, named so
// that its file name says nothing: only its SHA-1 in the Java DB names it.
func anonymousJAR(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("com/example/Lib.class")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("\xca\xfe\xba\xbe fixture class"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// javaDBArchive builds a real Java DB (SQLite, as trivy-java-db writes it)
// that maps the JAR's SHA-1 to com.example:lib 1.0.
func javaDBArchive(t *testing.T, jar []byte, updatedAt time.Time) []byte {
	t.Helper()
	dir := t.TempDir()
	d, err := javadbdb.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(jar) //nolint:gosec
	if err := d.InsertIndexes([]javatypes.Index{{GroupID: "com.example", ArtifactID: "lib", Version: "1.0", SHA1: sum[:], ArchiveType: javatypes.JarType}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(dir, "trivy-java.db"))
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(map[string]any{"Version": 1, "UpdatedAt": updatedAt.UTC(), "NextUpdate": updatedAt.Add(72 * time.Hour).UTC()})
	return acctest.TarGz(t, acctest.ArchiveEntry{Name: "trivy-java.db", Content: db}, acctest.ArchiveEntry{Name: "metadata.json", Content: meta})
}

type javaFixture struct {
	reg, javaReg *acctest.Registry
	dbRepo       string
	javaRepo     string
}

// newJavaFixture: images and the vulnerability database on one registry,
// the Java DB on another that requires credentials.
func newJavaFixture(t *testing.T, javaUpdatedAgo time.Duration) *javaFixture {
	t.Helper()
	now := time.Now()
	reg := acctest.NewRegistry(t)
	reg.PushTrivyDB(t, "aquasecurity/trivy-db:2", acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories, mavenAdvisory}, acctest.FreshDBMeta(now)))
	jar := anonymousJAR(t)
	reg.Push(t, "java/app:1", acctest.Image(acctest.Config{},
		acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}),
		acctest.Layer(acctest.File{Path: "app/"}, acctest.File{Path: "app/app.jar", Content: string(jar)})))
	reg.Push(t, "plain/app:1", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	javaReg := acctest.NewRegistry(t, acctest.WithBasicAuth("java-reader", "j4va"))
	javaReg.PushArtifact(t, "aquasec/trivy-java-db:1", acctest.TrivyArtifactType, "javadb.tar.gz", vulndb.JavaMediaType, javaDBArchive(t, jar, now.Add(-javaUpdatedAgo)))
	return &javaFixture{reg: reg, javaReg: javaReg, dbRepo: reg.Ref("aquasecurity/trivy-db:2"), javaRepo: javaReg.Ref("aquasec/trivy-java-db:1")}
}

// scanner is a provider's scanner: registry client with the `registry`
// block for the Java DB's registry (or none), databases under cacheDir.
func (f *javaFixture) scanner(t *testing.T, withCredentials bool, maxAge time.Duration) (*scan.Scanner, *registry.Client, string) {
	t.Helper()
	var regs []registry.RegistryOptions
	if withCredentials {
		regs = append(regs, registry.RegistryOptions{Address: f.javaReg.Host, Username: "java-reader", Password: "j4va"})
	}
	client, err := registry.New(registry.Options{Registries: regs})
	if err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	opts := vulndb.Options{Repositories: []string{f.dbRepo}, JavaRepositories: []string{f.javaRepo}, CacheDir: cacheDir, MaxAge: maxAge,
		RemoteOptions: client.RemoteOptions(), Insecure: client.IsInsecure}
	s := scan.New(client, scan.NewLocal(vulndb.NewManager(opts), cacheDir), cacheDir)
	s.UseJavaDB(scan.NewJavaDB(vulndb.NewJavaManager(opts.Java())))
	return s, client, cacheDir
}

func scanRef(t *testing.T, s *scan.Scanner, client *registry.Client, ref string) (*scan.Result, error) {
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
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := s.Scan(ctx, scan.Target{Resolved: resolved, Platform: pms[0]}, scan.Options{})
	if err != nil {
		return nil, err
	}
	return scan.Summarize(ctx, rep, "linux/amd64", pms[0].Digest.String(), nil)
}

func TestJavaDBDownloadedWithRegistryCredentialsOnlyForJARs(t *testing.T) {
	vulndb.ResetForTesting()
	t.Cleanup(vulndb.ResetForTesting)
	f := newJavaFixture(t, 2*time.Hour)
	s, client, cacheDir := f.scanner(t, true, 0)

	// No JAR: the Java DB is not fetched at all.
	if _, err := scanRef(t, s, client, f.reg.Ref("plain/app:1")); err != nil {
		t.Fatal(err)
	}
	if n := len(f.javaReg.Requests()); n != 0 {
		t.Errorf("a scan without JARs fetched the Java DB: %v", f.javaReg.Requests())
	}

	// A JAR known only by its SHA-1: found through the Java DB, which came
	// from the configured repository with the `registry` block's credentials.
	res, err := scanRef(t, s, client, f.reg.Ref("java/app:1"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, fd := range res.Findings {
		ids = append(ids, fd.ID+" "+fd.Package+" "+fd.InstalledVersion)
	}
	if strings.Join(ids, ",") != "CVE-2026-1000 com.example:lib 1.0" {
		t.Errorf("findings = %v, want the JAR identified through the Java DB", ids)
	}
	if f.javaReg.CountBlobs() == 0 {
		t.Errorf("the Java DB was not downloaded from %s: %v", f.javaRepo, f.javaReg.Requests())
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "java-db", "trivy-java.db")); err != nil {
		t.Error(err)
	}
}

func TestJavaDBWithoutCredentialsFailsClosed(t *testing.T) {
	vulndb.ResetForTesting()
	t.Cleanup(vulndb.ResetForTesting)
	f := newJavaFixture(t, 2*time.Hour)
	s, client, _ := f.scanner(t, false, 0)
	_, err := scanRef(t, s, client, f.reg.Ref("java/app:1"))
	if err == nil {
		t.Fatal("an image with a JAR passed without a Java DB")
	}
	for _, want := range []string{"java/app:1", "holds JAR files", "no usable Java DB", f.javaRepo + " could not be fetched", "java_repositories"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestJavaDBOlderThanMaxAgeFailsClosed(t *testing.T) {
	vulndb.ResetForTesting()
	t.Cleanup(vulndb.ResetForTesting)
	f := newJavaFixture(t, 100*time.Hour)
	s, client, _ := f.scanner(t, true, 72*time.Hour)
	_, err := scanRef(t, s, client, f.reg.Ref("java/app:1"))
	if err == nil {
		t.Fatal("an image with a JAR passed with a Java DB older than max_age")
	}
	for _, want := range []string{"holds JAR files", "Java DB from " + f.javaRepo + " was updated 4d4h ago", "older than max_age (72h)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Images without JARs still scan: the Java DB is not their concern.
	if _, err := scanRef(t, s, client, f.reg.Ref("plain/app:1")); err != nil {
		t.Errorf("plain image: %v", err)
	}
}

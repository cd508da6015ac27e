package scan_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// benchFixture is a registry holding the fixture database and one image,
// and a database Manager over it that has already downloaded the database.
type benchFixture struct {
	reg     *acctest.Registry
	manager *vulndb.Manager
	ref     string
	layers  int
}

func newBenchFixture(tb testing.TB, bulkBytes int) *benchFixture {
	tb.Helper()
	reg := acctest.NewRegistry(tb)
	archive := acctest.TrivyDBArchive(tb, []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(time.Now()))
	reg.PushTrivyDB(tb, "aquasecurity/trivy-db:2", archive)
	reg.Push(tb, "bench/app:1", acctest.BenchImage(bulkBytes))

	client := newClient(tb)
	manager := vulndb.NewManager(vulndb.Options{
		Repositories:  []string{reg.Ref("aquasecurity/trivy-db:2")},
		CacheDir:      tb.TempDir(),
		RemoteOptions: client.RemoteOptions(),
	})
	if _, err := manager.Ensure(context.Background()); err != nil {
		tb.Fatalf("database: %v", err)
	}
	reg.ResetRequests()
	return &benchFixture{reg: reg, manager: manager, ref: reg.Ref("bench/app:1"), layers: 3}
}

func newClient(tb testing.TB) *registry.Client {
	tb.Helper()
	c, err := registry.New(registry.Options{Keychain: authn.NewMultiKeychain()})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// target resolves the fixture image with client, as a plan does before it
// scans.
func (f *benchFixture) target(tb testing.TB, client *registry.Client) scan.Target {
	tb.Helper()
	ctx := context.Background()
	ref, err := client.ParseReference(f.ref)
	if err != nil {
		tb.Fatal(err)
	}
	resolved, err := client.Resolve(ctx, ref)
	if err != nil {
		tb.Fatal(err)
	}
	platforms, err := client.Platforms(ctx, resolved, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if len(platforms) != 1 {
		tb.Fatalf("want one platform, got %d", len(platforms))
	}
	return scan.Target{Resolved: resolved, Platform: platforms[0]}
}

// scanAndCheck scans t with s and checks the findings the fixture must
// produce, so that a benchmark never measures a broken scan.
func (f *benchFixture) scanAndCheck(tb testing.TB, s *scan.Scanner, t scan.Target) {
	tb.Helper()
	ctx := context.Background()
	rep, _, err := s.Scan(ctx, t, scan.Options{})
	if err != nil {
		tb.Fatalf("scan: %v", err)
	}
	res, err := scan.Summarize(ctx, rep, t.Platform.Platform, t.Platform.Digest.String(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	got := map[string]bool{}
	for _, fd := range res.Findings {
		got[fd.ID+" "+fd.Package+" "+fd.InstalledVersion] = true
	}
	for _, want := range []string{
		"CVE-2025-26519 musl 1.2.5-r0",
		"CVE-2024-58251 busybox 1.36.1-r29",
		"CVE-2021-23337 lodash 4.17.20",
		"CVE-2021-44906 minimist 1.2.5",
	} {
		if !got[want] {
			tb.Fatalf("finding %q missing; got %v", want, got)
		}
	}
	if len(res.Findings) != 4 {
		tb.Fatalf("want 4 findings, got %d: %v", len(res.Findings), got)
	}
}

// checkNothingFetched scans the image again as a new provider process does
// (a new registry client resolves it, a new Scanner over cacheDir finds the
// report in the disk cache) and once more in that Scanner (the memory
// cache), and fails unless the registry saw no blob request and Trivy ran
// no analysis. It returns the blob requests and analyses it saw.
func (f *benchFixture) checkNothingFetched(tb testing.TB, cacheDir string) (blobs int, analyses int64) {
	tb.Helper()
	f.reg.ResetRequests()
	client := newClient(tb)
	t := f.target(tb, client)
	s := scan.New(client, scan.NewLocal(f.manager, cacheDir), cacheDir)
	f.scanAndCheck(tb, s, t) // disk cache
	if n := f.reg.CountBlobs(); n != 0 {
		tb.Fatalf("a new scanner over the same cache dir made %d blob requests, want 0: %v", n, f.reg.Requests())
	}
	if n := s.Analyses(); n != 0 {
		tb.Fatalf("a new scanner over the same cache dir ran %d analyses, want 0", n)
	}
	f.scanAndCheck(tb, s, t) // memory cache
	if n := f.reg.CountBlobs(); n != 0 {
		tb.Fatalf("a second scan in the same scanner made %d blob requests, want 0: %v", n, f.reg.Requests())
	}
	if n := s.Analyses(); n != 0 {
		tb.Fatalf("a second scan in the same scanner ran %d analyses, want 0", n)
	}
	return f.reg.CountBlobs(), s.Analyses()
}

// BenchmarkScanCold scans an image nothing has seen: a fresh cache dir and
// registry client per iteration, so every layer is downloaded and analysed.
// The database is downloaded once, before the timer.
func BenchmarkScanCold(b *testing.B) {
	f := newBenchFixture(b, 4<<20)
	var blobs int
	var analyses int64
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		f.reg.ResetRequests()
		b.StartTimer()

		client := newClient(b)
		s := scan.New(client, scan.NewLocal(f.manager, dir), dir)
		f.scanAndCheck(b, s, f.target(b, client))

		b.StopTimer()
		// The config and every layer: nothing is cached yet.
		if n := f.reg.CountBlobs(); n < f.layers {
			b.Fatalf("a cold scan made %d blob requests, want at least %d (one per layer)", n, f.layers)
		}
		if n := s.Analyses(); n != 1 {
			b.Fatalf("a cold scan ran %d analyses, want 1", n)
		}
		blobs += f.reg.CountBlobs()
		analyses += s.Analyses()
		b.StartTimer()
	}
	b.ReportMetric(float64(blobs)/float64(b.N), "blob-req/op")
	b.ReportMetric(float64(analyses)/float64(b.N), "analyses/op")
}

// BenchmarkScanCached scans an image already scanned with the same database
// and options: each iteration is a new registry client and Scanner over the
// same cache dir (a new provider process: resolve, then the disk report
// cache) and a second scan in that Scanner (the memory cache). Neither may
// fetch a blob or run Trivy.
func BenchmarkScanCached(b *testing.B) {
	f := newBenchFixture(b, 4<<20)
	dir := b.TempDir()
	client := newClient(b)
	f.scanAndCheck(b, scan.New(client, scan.NewLocal(f.manager, dir), dir), f.target(b, client))
	var blobs int
	var analyses int64
	b.ResetTimer()
	for b.Loop() {
		n, a := f.checkNothingFetched(b, dir)
		blobs += n
		analyses += a
	}
	b.ReportMetric(float64(blobs)/float64(b.N), "blob-req/op")
	b.ReportMetric(float64(analyses)/float64(b.N), "analyses/op")
}

// TestSecondScanFetchesNothing: once an image was scanned, scanning the same
// digest again, in a new provider process sharing the cache dir or in the
// same one, downloads no blob and runs no analysis.
func TestSecondScanFetchesNothing(t *testing.T) {
	f := newBenchFixture(t, 64<<10)
	dir := t.TempDir()
	client := newClient(t)
	target := f.target(t, client)
	f.reg.ResetRequests()
	first := scan.New(client, scan.NewLocal(f.manager, dir), dir)
	f.scanAndCheck(t, first, target)
	if n := f.reg.CountBlobs(); n < f.layers {
		t.Fatalf("the first scan made %d blob requests, want at least %d (one per layer)", n, f.layers)
	}
	if n := first.Analyses(); n != 1 {
		t.Fatalf("the first scan ran %d analyses, want 1", n)
	}
	f.checkNothingFetched(t, dir)
}

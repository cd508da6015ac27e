package scan_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

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

// BulkLayer is a layer of n deterministic pseudo-random bytes (seeded by
// seed), split in files of at most 1 MiB: half binary (incompressible, so
// the compressed layer is as large as its content; Trivy's secret scanner
// skips binaries) and half text (hex lines, which the secret scanner reads
// in full and that match no secret rule).
func BulkLayer(seed uint64, n int) v1.Layer {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	files := []acctest.File{{Path: "opt/"}, {Path: "opt/data/"}}
	const chunk = 1 << 20
	for i := 0; n > 0; i++ {
		size := min(n, chunk)
		n -= size
		if i%2 == 0 {
			b := make([]byte, size)
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			files = append(files, acctest.File{Path: fmt.Sprintf("opt/data/blob-%d.bin", i), Content: string(b)})
			continue
		}
		var sb strings.Builder
		raw := make([]byte, 32)
		for sb.Len() < size {
			for j := range raw {
				raw[j] = byte(rng.Uint32())
			}
			sb.WriteString(hex.EncodeToString(raw))
			sb.WriteByte('\n')
		}
		files = append(files, acctest.File{Path: fmt.Sprintf("opt/data/text-%d.txt", i), Content: sb.String()[:size]})
	}
	return acctest.Layer(files...)
}

// BenchImage is the image the benchmarks scan: an Alpine root with a few
// packages (musl and busybox vulnerable, openssl's libraries fixed), an
// installed npm application (lodash and minimist vulnerable) and a layer of
// bulkBytes of data, so that downloading and analysing layers costs
// something.
func BenchImage(bulkBytes int) v1.Image {
	return acctest.Image(acctest.Config{User: "1000"},
		acctest.AlpineLayer("3.20.3",
			acctest.Package{Name: "musl", Version: "1.2.5-r0"},
			acctest.Package{Name: "busybox", Version: "1.36.1-r29"},
			acctest.Package{Name: "libcrypto3", Version: "3.3.3-r0", Source: "openssl"},
			acctest.Package{Name: "libssl3", Version: "3.3.3-r0", Source: "openssl"},
			acctest.Package{Name: "zlib", Version: "1.3.1-r1"}),
		acctest.NpmLayer("app",
			acctest.Package{Name: "lodash", Version: "4.17.20"},
			acctest.Package{Name: "minimist", Version: "1.2.5"},
			acctest.Package{Name: "express", Version: "4.21.2"}),
		BulkLayer(42, bulkBytes))
}

func newBenchFixture(tb testing.TB, bulkBytes int) *benchFixture {
	tb.Helper()
	reg := acctest.NewRegistry(tb)
	archive := acctest.TrivyDBArchive(tb, []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(time.Now()))
	reg.PushTrivyDB(tb, "aquasecurity/trivy-db:2", archive)
	reg.Push(tb, "bench/app:1", BenchImage(bulkBytes))

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

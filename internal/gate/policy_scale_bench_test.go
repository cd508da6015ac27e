//go:build bench

package gate

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// BenchmarkPolicyScale is imageguard_policy's gates (a scan block, threshold
// CRITICAL, enforcement warn) over a fleet of N images that share a Debian
// base (acctest.FleetDebianPackages(700)) and each add an app layer, against
// the synthetic database (acctest.DefaultSyntheticDB), on the in-process
// registry. Each iteration is what a new provider process does: resolve
// every reference, then Policy, cold (empty layer and report caches) or
// warm (an earlier process cached every report). Per image: allocations,
// allocated bytes, and the heap still held once Policy returned (with the
// scanner and registry client alive, as in a plan); for the evaluation the
// peak heap in use. Memory flat in N means retained-B/image shrinking as N
// grows and peak-heap-MiB staying put.
//
//	go test -tags bench -run '^$' -bench PolicyScale -benchtime 1x ./internal/gate/
func BenchmarkPolicyScale(b *testing.B) {
	f := newScaleFleet(b, 100)
	for _, n := range []int{20, 100} {
		for _, phase := range []string{"cold", "warm"} {
			b.Run(fmt.Sprintf("N=%d/%s", n, phase), func(b *testing.B) {
				var st scaleStats
				for b.Loop() {
					b.StopTimer()
					cache := f.cacheDir(b)
					if phase == "warm" {
						f.evaluate(b, cache, n) // an earlier plan filled the caches
					}
					b.StartTimer()
					st.add(f.evaluate(b, cache, n))
				}
				st.report(b, n)
			})
		}
	}
}

type scaleFleet struct {
	reg    *acctest.Registry
	refs   []string
	dbFile string
}

func newScaleFleet(tb testing.TB, n int) *scaleFleet {
	pkgs := acctest.FleetDebianPackages(700)
	f := &scaleFleet{reg: acctest.NewRegistry(tb), dbFile: acctest.SyntheticTrivyDB(tb, acctest.DefaultSyntheticDB(pkgs))}
	base := acctest.DebianBaseLayer(pkgs)
	for i := 0; i < n; i++ {
		repoTag := fmt.Sprintf("fleet/app-%03d:1", i)
		f.reg.Push(tb, repoTag, acctest.FleetImage(base, acctest.FleetAppLayer(tb, i, 1<<20)))
		f.refs = append(f.refs, f.reg.Ref(repoTag))
	}
	return f
}

// cacheDir is a new cache_dir holding only the database.
func (f *scaleFleet) cacheDir(tb testing.TB) string {
	dir := tb.TempDir()
	acctest.InstallTrivyDB(tb, f.dbFile, dir, time.Now())
	return dir
}

// scaleSample is one evaluation.
type scaleSample struct {
	wall               time.Duration
	mallocs, bytes     uint64
	retained, peakHeap uint64
	analyses, findings int64
}

func (f *scaleFleet) evaluate(tb testing.TB, cache string, n int) scaleSample {
	ctx := context.Background()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := watchHeap()
	start := time.Now()

	client, err := registry.New(registry.Options{Keychain: authn.NewMultiKeychain()})
	if err != nil {
		tb.Fatal(err)
	}
	mgr := vulndb.NewManager(vulndb.Options{Repositories: []string{f.reg.Ref("aquasecurity/trivy-db:2")}, CacheDir: cache, RemoteOptions: client.RemoteOptions()})
	local := scan.NewLocal(mgr, cache)
	defer local.Close() // the layer cache's lock, for the next process
	scanner := scan.New(client, local, cache)
	images := map[string]*registry.Resolved{}
	for i, raw := range f.refs[:n] {
		ref, err := client.ParseReference(raw)
		if err != nil {
			tb.Fatal(err)
		}
		if images[fmt.Sprintf("app-%03d", i)], err = client.Resolve(ctx, ref); err != nil {
			tb.Fatal(err)
		}
	}
	s := PolicySettings{
		Scan:            &ScanSettings{Rules: policy.ScanRules{Threshold: policy.SeverityCritical}},
		ScanEnforcement: report.EnforcementWarn, RulesEnforcement: report.EnforcementWarn, Concurrency: 4,
	}
	out := Policy(ctx, client, scanner, images, s, time.Now())
	st := scaleSample{wall: time.Since(start), peakHeap: peak(), analyses: scanner.Analyses()}
	if out.Judged != n {
		tb.Fatalf("judged %d digests, want %d", out.Judged, n)
	}
	for name, r := range images {
		v := out.For(r)
		if v.Err != nil {
			tb.Fatalf("%s: %v", name, v.Err)
		}
		for _, c := range v.Counts {
			st.findings += c
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	st.mallocs, st.bytes = after.Mallocs-before.Mallocs, after.TotalAlloc-before.TotalAlloc
	if after.HeapAlloc > before.HeapAlloc {
		st.retained = after.HeapAlloc - before.HeapAlloc
	}
	runtime.KeepAlive(scanner)
	runtime.KeepAlive(out)
	debug.FreeOSMemory()
	return st
}

// watchHeap samples the heap in use every 5ms until the returned function
// is called, which returns the largest sample.
func watchHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); wg.Wait(); return peak.Load() }
}

type scaleStats struct {
	runs                               int
	mallocs, bytes, retained, peakHeap uint64
	analyses, findings                 int64
}

func (s *scaleStats) add(x scaleSample) {
	s.runs++
	s.mallocs += x.mallocs
	s.bytes += x.bytes
	s.retained += x.retained
	s.peakHeap = max(s.peakHeap, x.peakHeap)
	s.analyses += x.analyses
	s.findings = x.findings
}

func (s *scaleStats) report(b *testing.B, n int) {
	per := float64(s.runs * n)
	b.ReportMetric(float64(s.mallocs)/per, "allocs/image")
	b.ReportMetric(float64(s.bytes)/per, "B/image")
	b.ReportMetric(float64(s.retained)/per, "retained-B/image")
	b.ReportMetric(float64(s.peakHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(s.analyses)/float64(s.runs), "analyses/op")
	b.ReportMetric(float64(s.findings)/float64(n), "findings/image")
}

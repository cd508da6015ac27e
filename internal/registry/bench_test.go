package registry_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

// resolveCase is one reference a plan asks for and the digest it must get.
type resolveCase struct {
	ref  string
	want v1.Hash
}

// uniqueRefs is the number of distinct references in resolveFixture: one
// manifest request each.
const uniqueRefs = 10

// resolveFixture pushes 6 single-platform images and 4 multi-platform
// indexes under 8 repositories and returns 20 references as a plan with
// repeated images would hold them: each of the 10 distinct references twice
// (7 by tag, 3 by repo@digest).
func resolveFixture(tb testing.TB) (*acctest.Registry, []resolveCase) {
	tb.Helper()
	reg := acctest.NewRegistry(tb)
	single := func(i int) v1.Image {
		return acctest.Image(acctest.Config{User: fmt.Sprintf("%d", 1000+i), Labels: map[string]string{"n": fmt.Sprint(i)}}, acctest.AlpineLayer("3.23.2"))
	}
	index := func(i int) v1.ImageIndex {
		amd := acctest.Image(acctest.Config{User: fmt.Sprintf("idx-%d", i)}, acctest.AlpineLayer("3.23.2"))
		arm := acctest.Image(acctest.Config{User: fmt.Sprintf("idx-%d", i), Architecture: "arm64", Variant: "v8"}, acctest.AlpineLayer("3.23.2"))
		return acctest.Index(amd, arm)
	}
	var unique []resolveCase
	byTag := func(repoTag string, d v1.Hash) {
		unique = append(unique, resolveCase{ref: reg.Ref(repoTag), want: d})
	}
	byDigest := func(repoTag string, d v1.Hash) {
		repo, _, _ := strings.Cut(repoTag, ":")
		unique = append(unique, resolveCase{ref: reg.Ref(repo) + "@" + d.String(), want: d})
	}
	byTag("svc/a:1", reg.Push(tb, "svc/a:1", single(0)))
	byTag("svc/a:2", reg.Push(tb, "svc/a:2", single(1)))
	byTag("svc/b:1", reg.Push(tb, "svc/b:1", single(2)))
	byTag("svc/c:latest", reg.Push(tb, "svc/c:latest", single(3)))
	byDigest("svc/d:1", reg.Push(tb, "svc/d:1", single(4)))
	byDigest("svc/e:1", reg.Push(tb, "svc/e:1", single(5)))
	byTag("multi/x:1", reg.PushIndex(tb, "multi/x:1", index(0)))
	byTag("multi/x:2", reg.PushIndex(tb, "multi/x:2", index(1)))
	byTag("multi/y:1", reg.PushIndex(tb, "multi/y:1", index(2)))
	byDigest("multi/z:1", reg.PushIndex(tb, "multi/z:1", index(3)))
	if len(unique) != uniqueRefs {
		tb.Fatalf("fixture has %d unique references, want %d", len(unique), uniqueRefs)
	}
	seen := map[v1.Hash]bool{}
	for _, u := range unique {
		if seen[u.want] {
			tb.Fatalf("fixture digests are not unique: %s", u.want)
		}
		seen[u.want] = true
	}
	// Each reference twice, the repeat half a list later, as separate
	// data sources of one plan would ask for them.
	cases := append(append([]resolveCase(nil), unique...), unique...)
	reg.ResetRequests()
	return reg, cases
}

// resolveAll parses and resolves every reference with a small worker pool,
// as terraform reads data sources concurrently, and checks the digests.
func resolveAll(c *registry.Client, cases []resolveCase) error {
	const workers = 4
	ctx := context.Background()
	jobs := make(chan resolveCase)
	errs := make(chan error, len(cases))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rc := range jobs {
				ref, err := c.ParseReference(rc.ref)
				if err != nil {
					errs <- err
					continue
				}
				r, err := c.Resolve(ctx, ref)
				if err != nil {
					errs <- err
					continue
				}
				if r.Digest != rc.want {
					errs <- fmt.Errorf("%s resolved to %s, want %s", rc.ref, r.Digest, rc.want)
				}
			}
		}()
	}
	for _, rc := range cases {
		jobs <- rc
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs // nil when the channel is empty
}

// roundCounts is what the registry saw for one fresh client.
type roundCounts struct {
	manifests int // manifest requests in the first round
	http      int // all requests in the first round, /v2/ pings included
	second    int // requests of any kind in the second round
}

// resolveRounds resolves every reference with a fresh client (a new
// provider process), then again with the same client.
func resolveRounds(tb testing.TB, reg *acctest.Registry, cases []resolveCase) roundCounts {
	tb.Helper()
	c := newClient(tb)
	reg.ResetRequests()
	if err := resolveAll(c, cases); err != nil {
		tb.Fatalf("first round: %v", err)
	}
	var rc roundCounts
	rc.manifests = reg.CountManifests()
	rc.http = len(reg.Requests())
	if rc.manifests != uniqueRefs {
		tb.Fatalf("first round: %d manifest requests for %d references (%d unique), want %d; requests: %v",
			rc.manifests, len(cases), uniqueRefs, uniqueRefs, reg.Requests())
	}
	if err := resolveAll(c, cases); err != nil {
		tb.Fatalf("second round: %v", err)
	}
	all := reg.Requests()
	rc.second = len(all) - rc.http
	if rc.second != 0 {
		tb.Fatalf("second round with the same client made %d requests, want 0: %v", rc.second, all[rc.http:])
	}
	return rc
}

// TestResolveRequestCounts checks the memoisation BenchmarkResolve measures:
// one manifest request per unique reference, nothing on a second round.
func TestResolveRequestCounts(t *testing.T) {
	reg, cases := resolveFixture(t)
	rc := resolveRounds(t, reg, cases)
	t.Logf("%d references, %d unique: %d manifest requests, %d HTTP requests, %d in the second round",
		len(cases), uniqueRefs, rc.manifests, rc.http, rc.second)
}

// BenchmarkResolve resolves the 20 references of a plan with a fresh client
// per iteration and reports the requests the registry saw.
func BenchmarkResolve(b *testing.B) {
	reg, cases := resolveFixture(b)
	var n, manifests, httpReqs, second int
	for b.Loop() {
		rc := resolveRounds(b, reg, cases)
		n++
		manifests += rc.manifests
		httpReqs += rc.http
		second += rc.second
	}
	b.ReportMetric(float64(manifests)/float64(n), "manifest-req/op")
	b.ReportMetric(float64(httpReqs)/float64(n), "http-req/op")
	b.ReportMetric(float64(second)/float64(n), "second-round-req/op")
}

package scan_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
)

// Concurrent scans in one process of images that share a layer download
// and analyse that layer once (terraform reads data sources in parallel).
func TestConcurrentScansShareALayer(t *testing.T) {
	f := newBenchFixture(t, 64<<10)
	shared := acctest.BulkLayer(7, 512<<10)
	sharedDigest, _ := shared.Digest()
	const images = 6
	for i := 0; i < images; i++ {
		f.reg.Push(t, fmt.Sprintf("team/app%d:1", i), acctest.Image(acctest.Config{},
			acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}), shared,
			acctest.Layer(acctest.File{Path: "app/id", Content: fmt.Sprint(i)})))
	}
	client := newClient(t)
	dir := t.TempDir()
	s := scan.New(client, scan.NewLocal(f.manager, dir), dir)
	f.reg.ResetRequests()
	var wg sync.WaitGroup
	errs := make(chan error, images)
	for i := 0; i < images; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref, err := client.ParseReference(f.reg.Ref(fmt.Sprintf("team/app%d:1", i)))
			if err != nil {
				errs <- err
				return
			}
			r, err := client.Resolve(context.Background(), ref)
			if err != nil {
				errs <- err
				return
			}
			pms, err := client.Platforms(context.Background(), r, nil)
			if err != nil {
				errs <- err
				return
			}
			if _, _, err := s.Scan(context.Background(), scan.Target{Resolved: r, Platform: pms[0]}, scan.Options{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fetches := 0
	for _, q := range f.reg.Requests() {
		if q.Method == "GET" && strings.HasSuffix(q.Path, "/blobs/"+sharedDigest.String()) {
			fetches++
		}
	}
	if fetches != 1 {
		t.Fatalf("the shared layer was fetched %d times by %d concurrent scans, want 1", fetches, images)
	}
}

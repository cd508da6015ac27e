package scan_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/aquasecurity/trivy/pkg/cache"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

const trustToken = "fleet-server-token-7a3e"

// trustServer is Trivy's own server on httptest, detecting with the fixture
// database. beforeScan, when set, runs before each Scan RPC is served.
type trustServer struct {
	url        string
	beforeScan atomic.Pointer[func()]
}

func startTrustServer(t *testing.T) *trustServer {
	t.Helper()
	dir := t.TempDir()
	acctest.BuildTrivyDB(t, filepath.Join(dir, "db"), []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(time.Now()))
	// The server's detectors read trivy-db's process-global handle.
	m := vulndb.NewManager(vulndb.Options{CacheDir: dir, SkipUpdate: true, MaxAge: 10000 * time.Hour})
	_, release, err := m.Use(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mux := acctest.TrivyServerHandler(ctx, dir, trustToken, acctest.NewTrivyLayerCache())
	ts := &trustServer{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/trivy.scanner.v1.Scanner/Scan") {
			if f := ts.beforeScan.Load(); f != nil {
				(*f)()
			}
		}
		mux.ServeHTTP(w, r)
	}))
	ts.url = hs.URL
	t.Cleanup(func() {
		hs.Close()
		cancel()
		release()
	})
	return ts
}

// trustFixture is a registry with a vulnerable Alpine base image (as a
// public base image: anyone can pull it) and an application built on it.
type trustFixture struct {
	reg  *acctest.Registry
	base v1.Image
	srv  *trustServer
	// configs are the images' config digests, told apart from layers.
	configs map[string]bool
}

// The base's findings against FixtureAdvisories.
var baseFindings = []string{"CVE-2024-58251 busybox 1.36.1-r29", "CVE-2025-26519 musl 1.2.5-r0"}

func newTrustFixture(t *testing.T, apps int) *trustFixture {
	t.Helper()
	reg := acctest.NewRegistry(t)
	baseLayer := acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"}, acctest.Package{Name: "busybox", Version: "1.36.1-r29"})
	base := acctest.Image(acctest.Config{}, baseLayer)
	f := &trustFixture{reg: reg, base: base, configs: map[string]bool{}}
	f.push(t, "library/alpine:3.23", base)
	for i := range apps {
		f.push(t, fmt.Sprintf("team/app%d:1", i), acctest.Image(acctest.Config{},
			baseLayer, acctest.Layer(acctest.File{Path: "app/"}, acctest.File{Path: "app/id", Content: fmt.Sprint(i)})))
	}
	f.srv = startTrustServer(t)
	return f
}

func (f *trustFixture) push(t *testing.T, repoTag string, img v1.Image) {
	t.Helper()
	f.reg.Push(t, repoTag, img)
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	f.configs[h.String()] = true
}

// layerFetches counts the registry's layer reads (not config reads) since
// the last ResetRequests.
func (f *trustFixture) layerFetches() int {
	n := 0
	for _, q := range f.reg.Requests() {
		if i := strings.LastIndex(q.Path, "/blobs/"); q.Method == http.MethodGet && i >= 0 && !f.configs[q.Path[i+len("/blobs/"):]] {
			n++
		}
	}
	return n
}

// worker is one provider process: a registry client and a scanner over the
// server, without a report cache (every scan asks the server).
func (f *trustFixture) worker(t *testing.T, opts scan.ServerOptions) *scan.Scanner {
	t.Helper()
	opts.URL, opts.Token, opts.MaxAge = f.srv.url, trustToken, 72*time.Hour
	srv, err := scan.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return scan.New(newClient(t), srv, "")
}

// findings scans repoTag with w and returns "id package version" of each
// finding, sorted.
func (f *trustFixture) findings(t *testing.T, w *scan.Scanner, repoTag string) []string {
	t.Helper()
	ctx := context.Background()
	client := newClient(t)
	ref, err := client.ParseReference(f.reg.Ref(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	r, err := client.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	pms, err := client.Platforms(ctx, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := w.Scan(ctx, scan.Target{Resolved: r, Platform: pms[0]}, scan.Options{})
	if err != nil {
		t.Fatalf("scanning %s: %v", repoTag, err)
	}
	res, err := scan.Summarize(ctx, rep, pms[0].Platform, pms[0].Digest.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fd := range res.Findings {
		out = append(out, fd.ID+" "+fd.Package+" "+fd.InstalledVersion)
	}
	slices.Sort(out)
	return out
}

// poison prepares the attacker's "no packages" analyses of the public base
// image, under the keys Trivy's client (and imageguard before this design)
// computes for the options a worker uses by default.
func (f *trustFixture) poison(t *testing.T) *acctest.LayerPoison {
	t.Helper()
	return acctest.PoisonLayers(t, f.base, scan.ArtifactOption(scan.Options{}))
}

// landed fails unless the server holds an analysis under every poisoned key:
// the attack was carried out, so a worker that still finds the base's
// vulnerabilities did not use it.
func (f *trustFixture) landed(t *testing.T, p *acctest.LayerPoison) {
	t.Helper()
	rc := cache.NewRemoteCache(context.Background(), cache.RemoteOptions{ServerAddr: f.srv.url, CustomHeaders: http.Header{"Trivy-Token": {trustToken}}})
	_, missing, err := rc.MissingBlobs(context.Background(), "sha256:"+strings.Repeat("0", 64), p.Keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 0 {
		t.Fatalf("the attacker's analyses did not land on the server: %v missing", missing)
	}
}

// Control: a worker configured with only url and token finds the base
// layer's vulnerabilities through the server, in the base and in an image
// built on it.
func TestServerTrust_controlFindsTheBaseVulnerabilities(t *testing.T) {
	f := newTrustFixture(t, 1)
	w := f.worker(t, scan.ServerOptions{})
	for _, img := range []string{"library/alpine:3.23", "team/app0:1"} {
		if got := f.findings(t, w, img); !slices.Equal(got, baseFindings) {
			t.Fatalf("%s: findings %v, want %v", img, got, baseFindings)
		}
	}
}

// A hostile client holding the server's token stores "this layer has no
// packages" under the cache key Trivy computes for a vulnerable public base
// layer. A worker configured with only url and token, scanning an image
// built on that layer through the same server, still reports the base's
// vulnerabilities. (Before: it passed clean.)
func TestServerTrust_tokenHolderCannotPoisonABaseLayer(t *testing.T) {
	f := newTrustFixture(t, 1)
	p := f.poison(t)
	if err := p.Store(context.Background(), f.srv.url, trustToken); err != nil {
		t.Fatal(err)
	}
	f.landed(t, p)
	w := f.worker(t, scan.ServerOptions{})
	if got := f.findings(t, w, "team/app0:1"); !slices.Equal(got, baseFindings) {
		t.Fatalf("a worker used the attacker's analysis of the base layer: findings %v, want %v", got, baseFindings)
	}
}

// The attacker overwrites the base layer's analysis after the worker
// stored its own and before the worker's Scan is served (a race, not a
// planted entry). The worker still reports the base's vulnerabilities.
// (Before: it passed clean.)
func TestServerTrust_overwriteBetweenPutBlobAndScan(t *testing.T) {
	f := newTrustFixture(t, 1)
	p := f.poison(t)
	var overwrites atomic.Int64
	race := func() {
		if err := p.Store(context.Background(), f.srv.url, trustToken); err != nil {
			t.Error(err)
		}
		overwrites.Add(1)
	}
	f.srv.beforeScan.Store(&race)
	w := f.worker(t, scan.ServerOptions{})
	got := f.findings(t, w, "team/app0:1")
	if overwrites.Load() == 0 {
		t.Fatal("the attacker never ran")
	}
	f.landed(t, p)
	if !slices.Equal(got, baseFindings) {
		t.Fatalf("the attacker's overwrite between PutBlob and Scan changed the verdict: findings %v, want %v", got, baseFindings)
	}
}

// With fleet_cache_key, workers that hold it reuse each other's analyses (a
// second worker downloads no layer the first analysed), a worker without it
// reuses none, and a token holder without it still cannot poison them.
func TestServerTrust_fleetKeySharesAnalysesOnlyWithItsHolders(t *testing.T) {
	f := newTrustFixture(t, 2)
	const fleetKey = "fleet-key-0f5c7e9a2b4d6e8f1a3c5e7b9d0f2a4c"
	p := f.poison(t)
	if err := p.Store(context.Background(), f.srv.url, trustToken); err != nil {
		t.Fatal(err)
	}
	firstDir := t.TempDir()
	first := f.worker(t, scan.ServerOptions{FleetCacheKey: fleetKey, CacheDir: firstDir})
	f.reg.ResetRequests()
	if got := f.findings(t, first, "team/app0:1"); !slices.Equal(got, baseFindings) {
		t.Fatalf("first fleet worker: findings %v, want %v", got, baseFindings)
	}
	if n := f.layerFetches(); n != 2 {
		t.Fatalf("the first fleet worker read %d layers, want 2 (base and app)", n)
	}
	second := f.worker(t, scan.ServerOptions{FleetCacheKey: fleetKey, CacheDir: t.TempDir()})
	f.reg.ResetRequests()
	if got := f.findings(t, second, "team/app1:1"); !slices.Equal(got, baseFindings) {
		t.Fatalf("second fleet worker: findings %v, want %v", got, baseFindings)
	}
	if n := f.layerFetches(); n != 1 {
		t.Fatalf("the second fleet worker read %d layers, want 1 (its own app layer): the fleet's analysis of the base was not reused", n)
	}
	if err := filepath.WalkDir(firstDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), fleetKey) {
			t.Errorf("%s holds the fleet_cache_key", p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	outsider := f.worker(t, scan.ServerOptions{CacheDir: t.TempDir()})
	f.reg.ResetRequests()
	if got := f.findings(t, outsider, "team/app1:1"); !slices.Equal(got, baseFindings) {
		t.Fatalf("worker without the fleet key: findings %v, want %v", got, baseFindings)
	}
	if n := f.layerFetches(); n != 2 {
		t.Fatalf("a worker without the fleet key read %d layers, want 2: it reused an analysis it cannot trust", n)
	}
}

// By default (url and token only) a worker reuses on the server only what
// it analysed itself: a later run over the same cache_dir downloads no
// layer it already analysed; another worker's cache_dir, or no cache_dir,
// shares nothing.
func TestServerTrust_workerKeyKeptInCacheDir(t *testing.T) {
	f := newTrustFixture(t, 2)
	dir := t.TempDir()
	f.reg.ResetRequests()
	if got := f.findings(t, f.worker(t, scan.ServerOptions{CacheDir: dir}), "team/app0:1"); !slices.Equal(got, baseFindings) {
		t.Fatalf("findings %v, want %v", got, baseFindings)
	}
	if n := f.layerFetches(); n != 2 {
		t.Fatalf("first run read %d layers, want 2", n)
	}
	cases := []struct {
		name string
		opts scan.ServerOptions
		want int
	}{
		{"next run, same cache_dir → base reused", scan.ServerOptions{CacheDir: dir}, 1},
		{"another worker's cache_dir → nothing reused", scan.ServerOptions{CacheDir: t.TempDir()}, 2},
		{"no cache_dir → nothing reused", scan.ServerOptions{}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.reg.ResetRequests()
			if got := f.findings(t, f.worker(t, tc.opts), "team/app1:1"); !slices.Equal(got, baseFindings) {
				t.Fatalf("findings %v, want %v", got, baseFindings)
			}
			if n := f.layerFetches(); n != tc.want {
				t.Fatalf("read %d layers, want %d", n, tc.want)
			}
		})
	}
	fi, err := os.Lstat(filepath.Join(dir, "scanner-server-layer-key"))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("the worker's key file has mode %04o, want 0600", fi.Mode().Perm())
	}
}

// A key file imageguard did not write as it writes it is refused, with a
// message that names the file and what to do, never its content.
func TestServerTrust_keyFileNotAsWrittenIsRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes and links")
	}
	f := newTrustFixture(t, 1)
	const planted = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := []struct {
		name  string
		plant func(p string) error
		want  string
	}{
		{"not a key → refused", func(p string) error { return os.WriteFile(p, []byte("hunter2-not-a-key-31c9\n"), 0o600) }, "is not a scanner_server layer key"},
		{"writable by others → refused", func(p string) error {
			if err := os.WriteFile(p, []byte(planted+"\n"), 0o600); err != nil {
				return err
			}
			return os.Chmod(p, 0o666)
		}, "is writable by its group or by others"},
		{"a link to someone's key → refused", func(p string) error {
			other := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(other, []byte(planted+"\n"), 0o600); err != nil {
				return err
			}
			return os.Symlink(other, p)
		}, "is a symbolic link"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "scanner-server-layer-key")
			if err := tc.plant(p); err != nil {
				t.Fatal(err)
			}
			srv, err := scan.NewServer(scan.ServerOptions{URL: f.srv.url, Token: trustToken, MaxAge: 72 * time.Hour, CacheDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			client := newClient(t)
			ref, err := client.ParseReference(f.reg.Ref("team/app0:1"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := client.Resolve(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			pms, err := client.Platforms(context.Background(), r, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = scan.New(client, srv, "").Scan(context.Background(), scan.Target{Resolved: r, Platform: pms[0]}, scan.Options{})
			if err == nil {
				t.Fatal("scanned with a key file imageguard did not write")
			}
			for _, s := range []string{p, tc.want, "Delete it"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message lacks %q: %v", s, err)
				}
			}
			for _, s := range []string{"hunter2", planted} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("message shows the file's content: %v", err)
				}
			}
		})
	}
}

// A fleet_cache_key short enough to guess, or one every client of the
// server holds, is refused, without echoing it.
func TestServerTrust_shortFleetKeyRefused(t *testing.T) {
	_, err := scan.NewServer(scan.ServerOptions{URL: "https://trivy.example.com", FleetCacheKey: "guessable-7c1"})
	if err == nil {
		t.Fatal("a 13-character fleet_cache_key was accepted")
	}
	for _, s := range []string{"fleet_cache_key has 13 characters", "at least 32", "openssl rand -hex 32"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q: %v", s, err)
		}
	}
	if strings.Contains(err.Error(), "guessable-7c1") {
		t.Errorf("message shows the key: %v", err)
	}
	// The token (or a gateway header) is held by every client: as the fleet's
	// key it would give every client the fleet's keys.
	const key = "token-used-as-fleet-key-5d9e1b3f7a2c4e6a"
	for _, opts := range []scan.ServerOptions{
		{URL: "https://trivy.example.com", Token: key, FleetCacheKey: key},
		{URL: "https://trivy.example.com", CustomHeaders: map[string]string{"Authorization": "Bearer " + key}, FleetCacheKey: key},
	} {
		_, err := scan.NewServer(opts)
		if err == nil || !strings.Contains(err.Error(), "fleet_cache_key is the token") {
			t.Fatalf("a fleet_cache_key every client holds was accepted: %v", err)
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("message shows the key: %v", err)
		}
	}
}

// What keying the server's cache per worker costs in fleet-wide reuse: two
// workers scan the same images (a shared Alpine base, a shared 1 MiB
// runtime layer, an own 64 KiB application layer each), one after the
// other, each with an empty cache_dir. With fleet_cache_key (and with
// Trivy's public keys before this design) the second worker reads only
// what the first did not analyse; with the default per-worker key it
// analyses every layer again. Run with -v for the table.
func TestServerTrust_reuseCost(t *testing.T) {
	const images = 8
	reg := acctest.NewRegistry(t)
	base := acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"}, acctest.Package{Name: "busybox", Version: "1.36.1-r29"})
	runtimeLayer := acctest.BulkLayer(1, 1<<20)
	f := &trustFixture{reg: reg, configs: map[string]bool{}}
	sizes := map[string]int64{}
	for i := range images {
		img := acctest.Image(acctest.Config{}, base, runtimeLayer, acctest.BulkLayer(uint64(100+i), 64<<10))
		f.push(t, fmt.Sprintf("team/app%d:1", i), img)
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			d, _ := l.Digest()
			n, _ := l.Size()
			sizes[d.String()] = n
		}
	}
	f.srv = startTrustServer(t)
	fetched := func() (layers int, bytes int64) {
		for _, q := range reg.Requests() {
			if i := strings.LastIndex(q.Path, "/blobs/"); q.Method == http.MethodGet && i >= 0 && !f.configs[q.Path[i+len("/blobs/"):]] {
				layers++
				bytes += sizes[q.Path[i+len("/blobs/"):]]
			}
		}
		return layers, bytes
	}
	const fleetKey = "fleet-key-3d5f7a9c1e2b4d6f8a0c2e4b6d8f0a1c"
	type row struct {
		keys           string
		layers         [2]int
		bytes          [2]int64
		wantSecondSame bool
	}
	rows := []row{{keys: "worker (default: url and token)", wantSecondSame: true}, {keys: "fleet_cache_key (as before: fleet-wide)"}}
	for ri := range rows {
		r := &rows[ri]
		for w := range 2 {
			opts := scan.ServerOptions{CacheDir: t.TempDir()}
			if !r.wantSecondSame {
				opts.FleetCacheKey = fleetKey
			}
			worker := f.worker(t, opts)
			reg.ResetRequests()
			for i := range images {
				if got := f.findings(t, worker, fmt.Sprintf("team/app%d:1", i)); !slices.Equal(got, baseFindings) {
					t.Fatalf("%s, worker %d, app%d: findings %v, want %v", r.keys, w+1, i, got, baseFindings)
				}
			}
			r.layers[w], r.bytes[w] = fetched()
		}
		// One server for both rows: their keys differ, so no row reuses
		// another's analyses.
	}
	t.Logf("%d images × 2 workers, layers analysed (= layer reads) and layer bytes read per worker:", images)
	for _, r := range rows {
		t.Logf("  %-42s worker 1: %2d layers %8d B   worker 2: %2d layers %8d B   fleet: %2d layers %8d B",
			r.keys, r.layers[0], r.bytes[0], r.layers[1], r.bytes[1], r.layers[0]+r.layers[1], r.bytes[0]+r.bytes[1])
	}
	distinct := images + 2
	for _, r := range rows {
		if r.layers[0] != distinct {
			t.Errorf("%s: worker 1 read %d layers, want each of the %d distinct layers once", r.keys, r.layers[0], distinct)
		}
		want := 0
		if r.wantSecondSame {
			want = distinct
		}
		if r.layers[1] != want {
			t.Errorf("%s: worker 2 read %d layers, want %d", r.keys, r.layers[1], want)
		}
	}
}

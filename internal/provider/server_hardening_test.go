package provider

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// trivyReplica is Trivy's server handler over a database whose metadata
// says it was updated updatedAgo. Replicas built with the same layers cache
// share it, as replicas behind one URL share Redis. Detection reads
// trivy-db's process-global handle, which startTrivyServer opened: the
// replicas differ only in what /version reports, which is what imageguard
// judges a database's freshness by.
func trivyReplica(t *testing.T, updatedAgo time.Duration, layers acctest.TrivyLayerCache) http.Handler {
	t.Helper()
	dir := t.TempDir()
	now := time.Now().UTC()
	acctest.BuildTrivyDB(t, filepath.Join(dir, "db"), []string{acctest.FixtureAdvisories}, acctest.DBMeta{UpdatedAt: now.Add(-updatedAgo), NextUpdate: now.Add(24 * time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return acctest.TrivyServerHandler(ctx, dir, serverToken, layers)
}

// headerLog records the requests a server that must never be reached saw.
type headerLog struct {
	mu       sync.Mutex
	requests []string
}

func (h *headerLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests = append(h.requests, fmt.Sprintf("%s %s Trivy-Token=%q Authorization=%q", r.Method, r.URL.Path, r.Header.Get("Trivy-Token"), r.Header.Get("Authorization")))
	w.WriteHeader(http.StatusOK)
}

func (h *headerLog) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.requests...)
}

func hardenedServerProvider(url, cacheDir, extra string) string {
	return fmt.Sprintf(`
provider "imageguard" {
  alias = "server"
  scanner_server {
    url            = %q
    token          = %q
    custom_headers = { Authorization = "Bearer gateway-secret-3c7d" }
  }
  vulnerability_db {
    cache_dir = %q
%s
  }
}
`, url, serverToken, cacheDir, extra)
}

// serverScan scans image through the server. Audit mode: these tests are
// about reaching a verdict (or an error) through the server, not about the
// verdict; an error is an error in audit mode too.
func serverScan(image string) string {
	return fmt.Sprintf(`
data "imageguard_scan" "x" {
  provider    = imageguard.server
  image       = %q
  enforcement = "warn"
}`, image)
}

// A redirect from the scanner server, on /version or on an RPC call, is a
// plan error naming the status and the target; the token and the custom
// headers never reach the target.
func TestAccServerHardening_redirects(t *testing.T) {
	f := newScanFixture(t)
	real := startTrivyServer(t, f.cacheDir, 2*time.Hour)
	image := f.reg.Ref("alpine/fixed:1")
	cases := []struct {
		name   string
		status int
		// redirects says which requests the front redirects.
		redirects func(path string) bool
		want      string
	}{
		{"on /version", http.StatusTemporaryRedirect, func(p string) bool { return p == "/version" },
			`answered GET /version with 307 Temporary Redirect, redirecting to %s/version\.`},
		{"on the RPC calls", http.StatusPermanentRedirect, func(p string) bool { return strings.HasPrefix(p, "/twirp/") },
			`answered POST /twirp/trivy\.cache\.v1\.Cache/\w+ with 308 Permanent Redirect, redirecting to %s/twirp/trivy\.cache\.v1\.Cache/\w+\.`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			elsewhere := &headerLog{}
			other := httptest.NewServer(elsewhere)
			defer other.Close()
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.redirects(r.URL.Path) {
					http.Redirect(w, r, other.URL+r.URL.Path+"?X-Signature=query-secret-2b8e", tc.status)
					return
				}
				proxyTo(t, real.URL)(w, r)
			}))
			defer front.Close()
			resource.UnitTest(t, resource.TestCase{
				PreCheck:                 preCheck(t),
				ProtoV6ProviderFactories: protoV6Factories,
				Steps: []resource.TestStep{{
					Config: hardenedServerProvider(front.URL, t.TempDir(), "") + serverScan(image),
					ExpectError: regexp.MustCompile(`(?s)` + strings.ReplaceAll(fmt.Sprintf(`the Trivy server %s `+tc.want, regexp.QuoteMeta(front.URL), regexp.QuoteMeta(other.URL)), " ", `\s+`) +
						`.*never\s+follows\s+a\s+redirect`),
				}},
			})
			if seen := elsewhere.seen(); len(seen) != 0 {
				t.Fatalf("the redirect target was reached: %v", seen)
			}
		})
	}
	t.Run("control: the same front without redirects passes", func(t *testing.T) {
		front := httptest.NewServer(proxyTo(t, real.URL))
		defer front.Close()
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps: []resource.TestStep{{
				Config:            hardenedServerProvider(front.URL, t.TempDir(), "") + serverScan(image),
				ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_scan.x", "findings", knownvalue.ListSizeExact(0))},
			}},
		})
	})
}

// proxyTo forwards a request to the Trivy server at base, headers and all.
func proxyTo(t *testing.T, base string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}
}

// user:password in the URL is an error on `url` that points to `token` and
// never shows the password, neither in the message nor in the TRACE log.
func TestAccServerHardening_userinfoInURL(t *testing.T) {
	const password = "pa55w0rd-e41b9c"
	logPath := filepath.Join(t.TempDir(), "tf.log")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_LOG_PATH", logPath)
	t.Setenv("TF_VAR_server_url", "https://scanuser:"+password+"@trivy.example.com:4954")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: `
variable "server_url" {
  type      = string
  sensitive = true
}
provider "imageguard" {
  scanner_server {
    url = var.server_url
  }
  vulnerability_db {
    cache_dir = "` + t.TempDir() + `"
  }
}
data "imageguard_scan" "x" {
  image = "registry.example.com/team/app@sha256:` + strings.Repeat("a", 64) + `"
}`,
			ExpectError: wrapped("(?s)Invalid scanner_server.*scanner_server url https://\\*\\*\\*@trivy.example.com:4954 carries credentials.*give the server's token in `token`"),
		}},
	})
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.Index(string(b), password); i >= 0 {
		t.Fatalf("the password appears in the TRACE log: ...%s...", string(b)[max(0, i-300):min(len(b), i+50)])
	}
	if !strings.Contains(string(b), "carries credentials") {
		t.Fatal("the TRACE log does not hold the diagnostic: the check above proves nothing")
	}
}

// replicaBalancer is a TCP-level load balancer in front of two replicas:
// the first connection goes to the first replica, which closes it after one
// answer; every later connection goes to the other. A client that asked
// /version once and scans on another connection meets another replica.
type replicaBalancer struct {
	first, rest http.Handler
	conns       atomic.Int64
	scans       atomic.Int64
}

type connNumber struct{}

func startBalancer(t *testing.T, first, rest http.Handler) (*replicaBalancer, string) {
	t.Helper()
	b := &replicaBalancer{first: first, rest: rest}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/Scan") {
			b.scans.Add(1)
		}
		if r.Context().Value(connNumber{}).(int64) == 1 {
			w.Header().Set("Connection", "close")
			b.first.ServeHTTP(w, r)
			return
		}
		b.rest.ServeHTTP(w, r)
	}))
	hs.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connNumber{}, b.conns.Add(1))
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return b, hs.URL
}

// The database that answers each scan is checked: a replica with a stale
// database behind the same URL as a fresh one is a plan error, even when
// the first /version came from the fresh one.
func TestAccServerHardening_staleReplica(t *testing.T) {
	f := newScanFixture(t)
	startTrivyServer(t, f.cacheDir, 2*time.Hour) // opens the detection database
	layers := acctest.NewTrivyLayerCache()
	fresh := trivyReplica(t, 2*time.Hour, layers)
	image := f.reg.Ref("alpine/fixed:1")

	t.Run("control: two fresh replicas pass", func(t *testing.T) {
		lb, url := startBalancer(t, fresh, trivyReplica(t, 3*time.Hour, layers))
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps: []resource.TestStep{{
				Config:            hardenedServerProvider(url, t.TempDir(), "") + serverScan(image),
				ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_scan.x", "findings", knownvalue.ListSizeExact(0))},
			}},
		})
		if lb.conns.Load() < 2 || lb.scans.Load() == 0 {
			t.Fatalf("the balancer saw %d connections and %d scans: the replicas were not both used", lb.conns.Load(), lb.scans.Load())
		}
	})
	t.Run("stale replica fails the plan", func(t *testing.T) {
		lb, url := startBalancer(t, fresh, trivyReplica(t, 100*time.Hour, layers))
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps: []resource.TestStep{{
				Config: hardenedServerProvider(url, t.TempDir(), "") + serverScan(image),
				ExpectError: wrapped(`(?s)could not be scanned, so it cannot pass.*the vulnerability database of the Trivy server ` + regexp.QuoteMeta(url) +
					` \(asked on the connection of this scan\) was updated 4d4h ago .* older than max_age \(72h0m0s\).*replicas`),
			}},
		})
		if lb.conns.Load() < 2 {
			t.Fatalf("the balancer saw %d connections: the stale replica was never asked", lb.conns.Load())
		}
	})
}

// A report made with an older server database is never reused: when the
// server's database is updated, the next plan scans again and reports the
// new database.
func TestAccServerHardening_newDatabaseRescans(t *testing.T) {
	f := newScanFixture(t)
	srv := startTrivyServer(t, f.cacheDir, 2*time.Hour)
	cacheDir := t.TempDir()
	image := f.reg.Ref("alpine/fixed:1")
	cfg := hardenedServerProvider(srv.URL, cacheDir, "") + serverScan(image)
	newer := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	var firstScans int64
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: func(*terraform.State) error {
					firstScans = srv.scans.Load()
					return nil
				},
			},
			{
				// The cached report still matches this database: no scan.
				Config: cfg,
				Check: func(*terraform.State) error {
					if n := srv.scans.Load(); n != firstScans {
						return fmt.Errorf("the server scanned again (%d → %d) although its database did not change", firstScans, n)
					}
					return nil
				},
			},
			{
				PreConfig: func() {
					acctest.BuildTrivyDB(t, filepath.Join(f.cacheDir, "db-next"), []string{acctest.FixtureAdvisories}, acctest.DBMeta{UpdatedAt: newer, NextUpdate: newer.Add(24 * time.Hour)})
					b, err := os.ReadFile(filepath.Join(f.cacheDir, "db-next", "metadata.json"))
					if err != nil {
						t.Fatal(err)
					}
					// The server reads its metadata afresh for /version.
					if err := os.WriteFile(filepath.Join(f.cacheDir, "db", "metadata.json"), b, 0o600); err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.x", "db", knownvalue.ObjectPartial(map[string]knownvalue.Check{"updated_at": knownvalue.StringExact(newer.Format(time.RFC3339))})),
				},
				Check: func(*terraform.State) error {
					if n := srv.scans.Load(); n <= firstScans {
						return fmt.Errorf("the server was not asked again (%d scans) after its database changed: a report from the older database was reused", n)
					}
					return nil
				},
			},
		},
	})
}

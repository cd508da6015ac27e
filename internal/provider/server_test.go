package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

const serverToken = "s3rver-token-4d1f"

// trivyServer is Trivy's own server package on httptest, detecting with the
// fixture database in cacheDir/db.
type trivyServer struct {
	URL     string
	scans   atomic.Int64
	unavail atomic.Bool
	// hangRPC, while set, holds every RPC (cache and scan) until the client
	// gives up or the channel closes; /version still answers.
	hangRPC  atomic.Pointer[chan struct{}]
	cacheDir string
}

func startTrivyServer(t *testing.T, cacheDir string, updatedAgo time.Duration) *trivyServer {
	t.Helper()
	now := time.Now().UTC()
	acctest.BuildTrivyDB(t, filepath.Join(cacheDir, "db"), []string{acctest.FixtureAdvisories}, acctest.DBMeta{UpdatedAt: now.Add(-updatedAgo), NextUpdate: now.Add(24 * time.Hour)})
	// Open the database as the server process would, and keep it open for
	// the test: the server's detectors read trivy-db's global handle.
	m := vulndb.NewManager(vulndb.Options{CacheDir: cacheDir, SkipUpdate: true, MaxAge: 10000 * time.Hour})
	_, release, err := m.Use(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mux := acctest.TrivyServerHandler(ctx, cacheDir, serverToken, acctest.NewTrivyLayerCache())
	ts := &trivyServer{cacheDir: cacheDir}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ts.unavail.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/Scan") {
			ts.scans.Add(1)
		}
		if hang := ts.hangRPC.Load(); hang != nil && strings.HasPrefix(r.URL.Path, "/twirp/") {
			select { // until the client gives up, or the test lets go
			case <-r.Context().Done():
			case <-*hang:
			}
			return
		}
		mux.ServeHTTP(w, r)
	}))
	ts.URL = hs.URL
	t.Cleanup(func() {
		hs.Close()
		cancel()
		release()
	})
	return ts
}

func serverProvider(url, token, cacheDir, extra string) string {
	return fmt.Sprintf(`
provider "imageguard" {
  alias = "server"
  scanner_server {
    url   = %q
    token = %q
  }
  vulnerability_db {
    # No repository is reachable from the test: server mode must not need one.
    cache_dir = %q
%s
  }
}
`, url, token, cacheDir, extra)
}

// The server tests run sequentially (no t.Parallel): the in-process trivy
// server reads trivy-db's process-wide handle, which a parallel local scan
// would switch to its own database.
func TestAccScanServer_passFailAndParity(t *testing.T) {
	f := newScanFixture(t)
	srv := startTrivyServer(t, f.cacheDir, 2*time.Hour)
	images := []string{"alpine/vulnerable:1", "alpine/fixed:1", "debian/app:1", "node/app:1", "secret/app:1", "multi/app:1"}
	var cfg strings.Builder
	cfg.WriteString(f.provider())
	cfg.WriteString(serverProvider(srv.URL, serverToken, t.TempDir(), ""))
	var checks []statecheck.StateCheck
	for i, img := range images {
		fmt.Fprintf(&cfg, `
data "imageguard_scan" "local_%d" {
  image       = %q
  enforcement = "warn"
}
data "imageguard_scan" "server_%d" {
  provider    = imageguard.server
  image       = %q
  enforcement = "warn"
}
`, i, f.reg.Ref(img), i, f.reg.Ref(img))
		for _, attr := range []string{"findings", "secrets", "counts", "targets", "passed", "digest"} {
			checks = append(checks, statecheck.CompareValuePairs(
				fmt.Sprintf("data.imageguard_scan.local_%d", i), tfjsonpath.New(attr),
				fmt.Sprintf("data.imageguard_scan.server_%d", i), tfjsonpath.New(attr), compare.ValuesSame()))
		}
	}
	checks = append(checks,
		check("data.imageguard_scan.server_0", "findings", knownvalue.ListSizeExact(2)),
		check("data.imageguard_scan.server_4", "secrets", knownvalue.ListSizeExact(2)),
		check("data.imageguard_scan.server_0", "db", knownvalue.ObjectPartial(map[string]knownvalue.Check{"version": knownvalue.Int64Exact(2)})),
	)

	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: cfg.String(), ConfigStateChecks: checks},
			{
				Config: serverProvider(srv.URL, serverToken, t.TempDir(), "") + fmt.Sprintf(`
data "imageguard_scan" "fixed" {
  provider = imageguard.server
  image    = %q
}`, f.reg.Ref("alpine/fixed:1")),
				ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_scan.fixed", "passed", knownvalue.Bool(true))},
			},
		},
	})
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: serverProvider(srv.URL, serverToken, t.TempDir(), "") + fmt.Sprintf(`
data "imageguard_scan" "vulnerable" {
  provider = imageguard.server
  image    = %q
}`, f.reg.Ref("alpine/vulnerable:1")),
			ExpectError: wrapped(`(?s)Image has HIGH vulnerabilities.*from trivy server ` + srv.URL + `.*HIGH CVE-2025-26519 in musl 1.2.5-r0 → 1.2.5-r1`),
		}},
	})
	if srv.scans.Load() == 0 {
		t.Fatal("the Trivy server saw no Scan request: results did not come from it")
	}
}

func TestAccScanServer_failures(t *testing.T) {
	f := newScanFixture(t)
	srv := startTrivyServer(t, f.cacheDir, 2*time.Hour)
	down := httptest.NewServer(nil)
	downURL := down.URL
	down.Close()
	image := f.reg.Ref("alpine/fixed:1")
	scanWith := func(provider string) string {
		return provider + fmt.Sprintf(`
data "imageguard_scan" "x" {
  provider = imageguard.server
  image    = %q
}`, image)
	}
	cases := []struct{ name, config, want string }{
		{"wrong token", scanWith(serverProvider(srv.URL, "not-the-token", t.TempDir(), "")),
			`(?s)rejected the token \(sent in the Trivy-Token header\)`},
		{"missing token", scanWith(strings.Replace(serverProvider(srv.URL, "", t.TempDir(), ""), `token = ""`, "", 1)),
			`(?s)requires a token and none is configured`},
		{"server down", scanWith(serverProvider(downURL, serverToken, t.TempDir(), "")),
			`(?s)cannot reach the Trivy server ` + downURL + `.*does not fall back to a local database`},
		{"stale server database", scanWith(serverProvider(srv.URL, serverToken, t.TempDir(), `    max_age = "1h"`)),
			`(?s)database of the Trivy server .* was updated 2h0m0s ago.*older than max_age \(1h0m0s\)`},
		{"plain HTTP to a remote server", scanWith(serverProvider("http://trivy.example.com:4954", serverToken, t.TempDir(), "")),
			`(?s)uses plain HTTP, which is allowed only on loopback`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				PreCheck:                 preCheck(t),
				ProtoV6ProviderFactories: protoV6Factories,
				Steps:                    []resource.TestStep{{Config: tc.config, ExpectError: wrapped(tc.want)}},
			})
		})
	}
	t.Run("server hangs on the RPC", func(t *testing.T) {
		release := make(chan struct{})
		srv.hangRPC.Store(&release)
		defer func() { srv.hangRPC.Store(nil); close(release) }()
		provider := strings.Replace(serverProvider(srv.URL, serverToken, t.TempDir(), ""), `alias = "server"`, `alias = "server"
  timeout = "3s"`, 1)
		start := time.Now()
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps: []resource.TestStep{{Config: scanWith(provider),
				ExpectError: wrapped("(?s)the Trivy server " + srv.URL + " did not answer within the provider's `timeout`.*does not fall back to a local database")}},
		})
		if waited := time.Since(start); waited > time.Minute {
			t.Fatalf("a hanging scanner server held the plan for %s despite timeout = \"3s\"", waited)
		}
	})
	t.Run("server error", func(t *testing.T) {
		srv.unavail.Store(true)
		defer srv.unavail.Store(false)
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps:                    []resource.TestStep{{Config: scanWith(serverProvider(srv.URL, serverToken, t.TempDir(), "")), ExpectError: wrapped(`(?s)Trivy server ` + srv.URL)}},
		})
	})
}

// With fleet_cache_key, a second worker with an empty cache downloads no
// layer the fleet already analysed: it fetches the manifest and the config,
// nothing else. A worker configured with only url and token reuses no other
// worker's analysis (another client of the server could have written it).
func TestAccScanServer_secondWorkerDownloadsNoLayer(t *testing.T) {
	f := newScanFixture(t)
	srv := startTrivyServer(t, f.cacheDir, 2*time.Hour)
	image := f.reg.Ref("node/app:1")
	const fleetKey = "fleet-7e1d3c5b9a0f2e4d6c8b1a3f5e7d9c0b"
	cfg := func(cacheDir, fleet string) string {
		c := serverProvider(srv.URL, serverToken, cacheDir, "")
		if fleet != "" {
			c = strings.Replace(c, "    token = ", fmt.Sprintf("    fleet_cache_key = %q\n    token = ", fleet), 1)
		}
		return c + fmt.Sprintf(`
data "imageguard_scan" "x" {
  provider    = imageguard.server
  image       = %q
  enforcement = "warn"
}`, image)
	}
	var blobs [3]int
	step := func(i int, fleet string) resource.TestStep {
		return resource.TestStep{
			PreConfig: f.reg.ResetRequests,
			Config:    cfg(t.TempDir(), fleet),
			Check: func(*terraform.State) error {
				blobs[i] = f.reg.CountBlobs()
				return nil
			},
		}
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps:                    []resource.TestStep{step(0, fleetKey), step(1, fleetKey), step(2, "")},
	})
	t.Logf("first fleet worker: %d blob requests; second fleet worker: %d; worker without the fleet key: %d", blobs[0], blobs[1], blobs[2])
	if blobs[0] < 3 {
		t.Fatalf("the first worker fetched %d blobs; expected the config and every layer", blobs[0])
	}
	if blobs[1] != 1 {
		t.Fatalf("the second fleet worker fetched %d blobs; want 1 (the config): the server already knows every layer", blobs[1])
	}
	if blobs[2] != blobs[0] {
		t.Fatalf("a worker without the fleet key fetched %d blobs, want %d (every layer): it reused analyses it cannot trust", blobs[2], blobs[0])
	}
}

// A fleet_cache_key short enough to guess is refused at validation, and one
// that is the token at configuration, at its attribute (the provider's
// messages give neither value).
func TestAccScanServer_shortFleetKey(t *testing.T) {
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: `
provider "imageguard" {
  scanner_server {
    url             = "https://trivy.example.com:4954"
    token           = "tok"
    fleet_cache_key = "guessable-5e2a"
  }
}
data "imageguard_scan" "x" {
  image = "registry.example.com/team/api@sha256:` + strings.Repeat("a", 64) + `"
}`,
			ExpectError: regexp.MustCompile(`(?s)scanner_server\[0\]\.fleet_cache_key string length must be at least\s+32`),
		}, {
			// The token as the fleet's key: every client of the server holds it.
			Config: `
provider "imageguard" {
  scanner_server {
    url             = "https://trivy.example.com:4954"
    token           = "same-secret-for-both-8c2e4a6b0d1f3e5a7c9b"
    fleet_cache_key = "same-secret-for-both-8c2e4a6b0d1f3e5a7c9b"
  }
}
data "imageguard_scan" "x" {
  image = "registry.example.com/team/api@sha256:` + strings.Repeat("a", 64) + `"
}`,
			ExpectError: wrapped(`(?s)in provider "imageguard".*fleet_cache_key = .*The scanner_server fleet_cache_key is the token \(or part of a custom header\)`),
		}},
	})
}

// The token and the fleet_cache_key reach neither the TRACE log nor state
// nor a message.
func TestAccScanServer_tokenNeverLeaks(t *testing.T) {
	f := newScanFixture(t)
	srv := startTrivyServer(t, f.cacheDir, 2*time.Hour)
	logPath := filepath.Join(t.TempDir(), "tf.log")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_LOG_PATH", logPath)
	// The token comes in as a sensitive variable, as users give it; the
	// configuration text itself holds none.
	cfg := func(token string) string {
		t.Setenv("TF_VAR_server_token", token)
		return strings.Replace(serverProvider(srv.URL, "TOKEN", t.TempDir(), ""), `"TOKEN"`, "var.server_token\n    fleet_cache_key = var.fleet_key", 1) + fmt.Sprintf(`
variable "server_token" {
  type      = string
  sensitive = true
}
variable "fleet_key" {
  type      = string
  sensitive = true
}
data "imageguard_scan" "x" {
  provider = imageguard.server
  image    = %q
}`, f.reg.Ref("alpine/fixed:1"))
	}
	const fleetKey = "fleet-key-never-shown-4b8d2f6a1c3e5b7d9f"
	t.Setenv("TF_VAR_fleet_key", fleetKey)
	const wrong = "wrong-token-9c2e7"
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg(serverToken),
				Check: func(s *terraform.State) error {
					return errors.Join(assertNotInState(s, serverToken), assertNotInState(s, fleetKey))
				},
			},
		},
	})
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps:                    []resource.TestStep{{Config: cfg(wrong), ExpectError: wrapped(`(?s)rejected the token`)}},
	})
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{serverToken, wrong, fleetKey} {
		if i := strings.Index(string(b), tok); i >= 0 {
			lo := max(0, i-300)
			t.Fatalf("a scanner_server token or fleet_cache_key appears in the TRACE log: ...%s...", string(b)[lo:min(len(b), i+100)])
		}
	}
	if !strings.Contains(string(b), "imageguard") {
		t.Fatal("the TRACE log was not captured")
	}
}

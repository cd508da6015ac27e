package provider

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

const fakeAWSKey = acctest.FakeAWSKey

// scanFixture is a registry with the fixture database and images with known
// findings.
type scanFixture struct {
	reg      *acctest.Registry
	dbRepo   string
	cacheDir string
}

func newScanFixture(t *testing.T) *scanFixture {
	t.Helper()
	reg := acctest.NewRegistry(t)
	now := time.Now().UTC()
	archive := acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.DBMeta{UpdatedAt: now.Add(-2 * time.Hour), NextUpdate: now.Add(22 * time.Hour)})
	reg.PushTrivyDB(t, "aquasecurity/trivy-db:2", archive)

	acctest.PushScanFixtures(t, reg, 0)
	return &scanFixture{reg: reg, dbRepo: reg.Ref("aquasecurity/trivy-db:2"), cacheDir: t.TempDir()}
}

func (f *scanFixture) provider() string {
	return fmt.Sprintf(`
provider "imageguard" {
  vulnerability_db {
    repositories = [%q]
    cache_dir    = %q
  }
}
`, f.dbRepo, f.cacheDir)
}

func TestAccScanDataSource_passAndFail(t *testing.T) {
	t.Parallel()
	f := newScanFixture(t)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "fixed" {
  image = %q
}`, f.reg.Ref("alpine/fixed:1")),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.fixed", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.fixed", "pinned", knownvalue.StringRegexp(regexp.MustCompile(`/alpine/fixed@sha256:[0-9a-f]{64}$`))),
					check("data.imageguard_scan.fixed", "findings", knownvalue.ListSizeExact(0)),
					check("data.imageguard_scan.fixed", "db", knownvalue.ObjectPartial(map[string]knownvalue.Check{"version": knownvalue.Int64Exact(2)})),
					check("data.imageguard_scan.fixed", "counts", knownvalue.MapExact(map[string]knownvalue.Check{
						"UNKNOWN": knownvalue.Int64Exact(0), "LOW": knownvalue.Int64Exact(0), "MEDIUM": knownvalue.Int64Exact(0), "HIGH": knownvalue.Int64Exact(0), "CRITICAL": knownvalue.Int64Exact(0),
					})),
					check("data.imageguard_scan.fixed", "targets", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{"platform": knownvalue.StringExact("linux/amd64"), "target": knownvalue.StringExact("os: alpine 3.23.2")}),
					})),
				},
			},
			{
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "vulnerable" {
  image = %q
}`, f.reg.Ref("alpine/vulnerable:1")),
				ExpectError: wrapped(`(?s)Image has HIGH vulnerabilities.*alpine/vulnerable:1 \(sha256:[0-9a-f]{64}\) failed the scan gate: 1 finding\(s\) at or above HIGH.*version 2.*HIGH CVE-2025-26519 in musl 1.2.5-r0 → 1.2.5-r1.*What to do: upgrade`),
			},
		},
	})
}

func TestAccScanDataSource_warnAndCounts(t *testing.T) {
	t.Parallel()
	f := newScanFixture(t)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "audit" {
  image              = %q
  severity_threshold = "MEDIUM"
  enforcement        = "warn"
}`, f.reg.Ref("alpine/vulnerable:1")),
			ConfigStateChecks: []statecheck.StateCheck{
				check("data.imageguard_scan.audit", "passed", knownvalue.Bool(false)),
				check("data.imageguard_scan.audit", "pinned", knownvalue.NotNull()),
				check("data.imageguard_scan.audit", "counts", knownvalue.MapPartial(map[string]knownvalue.Check{"HIGH": knownvalue.Int64Exact(1), "MEDIUM": knownvalue.Int64Exact(1)})),
				check("data.imageguard_scan.audit", "findings", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("CVE-2025-26519"), "severity": knownvalue.StringExact("HIGH"), "package": knownvalue.StringExact("musl"),
						"installed_version": knownvalue.StringExact("1.2.5-r0"), "fixed_version": knownvalue.StringExact("1.2.5-r1"), "status": knownvalue.StringExact("fixed"), "platform": knownvalue.StringExact("linux/amd64")}),
					knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("CVE-2024-58251"), "severity": knownvalue.StringExact("MEDIUM"), "package": knownvalue.StringExact("busybox")}),
				})),
				check("data.imageguard_scan.audit", "violations", knownvalue.ListSizeExact(2)),
			},
		}},
	})
}

func TestAccScanDataSource_ignores(t *testing.T) {
	t.Parallel()
	f := newScanFixture(t)
	future := time.Now().AddDate(0, 1, 0).Format("2006-01-02")
	past := time.Now().AddDate(0, 0, -2).Format("2006-01-02")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				// glibc HIGH fixed, zlib CRITICAL unfixed: ignore_unfixed leaves glibc, the ignore takes it.
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "debian" {
  image          = %q
  ignore_unfixed = true
  ignore {
    id      = "CVE-2025-4802"
    reason  = "static binaries only; no setuid programs"
    expires = %q
  }
}`, f.reg.Ref("debian/app:1"), future),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.debian", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.debian", "ignored", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("CVE-2023-45853"), "reason": knownvalue.StringRegexp(regexp.MustCompile("ignore_unfixed"))}),
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("CVE-2025-4802"), "reason": knownvalue.StringRegexp(regexp.MustCompile("static binaries"))}),
					})),
				},
			},
			{
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "debian" {
  image = %q
  ignore {
    id      = "CVE-2025-4802"
    reason  = "was accepted last month"
    expires = %q
  }
}`, f.reg.Ref("debian/app:1"), past),
				ExpectError: wrapped(`(?s)CRITICAL CVE-2023-45853 in zlib1g.*no fix.*HIGH CVE-2025-4802 in libc6`),
			},
		},
	})
	// An invalid configuration gets its own case: the post-test destroy
	// must not run on it.
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "debian" {
  image = %q
  ignore {
    id     = "CVE-2025-4802"
    reason = "  "
  }
}`, f.reg.Ref("debian/app:1")),
				ExpectError: wrapped(`(?s)Ignore without a reason.*CVE-2025-4802`),
			},
		},
	})
}

func TestAccScanDataSource_npmAndSecrets(t *testing.T) {
	f := newScanFixture(t)
	logPath := filepath.Join(t.TempDir(), "tf.log")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_LOG_PATH", logPath)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "node" {
  image       = %q
  enforcement = "warn"
}`, f.reg.Ref("node/app:1")),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.node", "findings", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("CVE-2021-23337"), "package": knownvalue.StringExact("lodash"),
							"installed_version": knownvalue.StringExact("4.17.20"), "fixed_version": knownvalue.StringExact("4.17.21"),
							"target": knownvalue.StringExact("app/node_modules/lodash/package.json")}),
					})),
				},
			},
			{
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "secret" {
  image       = %q
  enforcement = "warn"
}`, f.reg.Ref("secret/app:1")),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.secret", "passed", knownvalue.Bool(false)),
					check("data.imageguard_scan.secret", "secrets", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"rule_id": knownvalue.StringExact("aws-access-key-id"), "target": knownvalue.StringExact("/app/config.env"), "line": knownvalue.Int64Exact(2)}),
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"rule_id": knownvalue.StringExact("aws-access-key-id"), "target": knownvalue.StringRegexp(regexp.MustCompile(`secret/app`))}),
					})),
				},
				Check: func(s *terraform.State) error {
					return assertNotInState(s, fakeAWSKey)
				},
			},
			{
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "secret" {
  image = %q
}`, f.reg.Ref("secret/app:1")),
				ExpectError: wrapped(`(?s)Image has baked-in secrets.*aws-access-key-id.*app/config.env line 2.*rotate`),
			},
		},
	})
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("no terraform log: %v", err)
	}
	if strings.Contains(string(b), fakeAWSKey) {
		t.Fatalf("the secret's text appears in the TRACE log")
	}
	if !strings.Contains(string(b), "aws-access-key-id") {
		t.Fatalf("the TRACE log does not mention the finding; was it captured?")
	}
}

func assertNotInState(s *terraform.State, needle string) error {
	for _, m := range s.Modules {
		for addr, r := range m.Resources {
			for k, v := range r.Primary.Attributes {
				if strings.Contains(v, needle) {
					return fmt.Errorf("%s.%s holds the secret's text", addr, k)
				}
			}
		}
	}
	return nil
}

func TestAccScanDataSource_multiArch(t *testing.T) {
	t.Parallel()
	f := newScanFixture(t)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "amd64_only" {
  image     = %q
  platforms = ["linux/amd64"]
}`, f.reg.Ref("multi/app:1")),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.amd64_only", "passed", knownvalue.Bool(true)),
				},
			},
			{
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "all" {
  image = %q
}`, f.reg.Ref("multi/app:1")),
				ExpectError: wrapped(`(?s)HIGH CVE-2025-26519 in musl 1.2.5-r0 → 1.2.5-r1 \[linux/arm64\]`),
			},
		},
	})
}

func TestAccScanDataSource_nothingScannable(t *testing.T) {
	t.Parallel()
	f := newScanFixture(t)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "bare" {
  image = %q
}`, f.reg.Ref("distroless/app:1")),
			ConfigStateChecks: []statecheck.StateCheck{
				check("data.imageguard_scan.bare", "passed", knownvalue.Bool(true)),
				check("data.imageguard_scan.bare", "targets", knownvalue.ListSizeExact(0)),
			},
		}},
	})
}

func TestAccScanDataSource_databaseFailClosed(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	now := time.Now().UTC()
	reg.Push(t, "alpine/fixed:1", acctest.Image(acctest.Config{},
		acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	stale := acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.DBMeta{UpdatedAt: now.Add(-100 * time.Hour), NextUpdate: now.Add(-76 * time.Hour)})
	reg.PushTrivyDB(t, "stale/trivy-db:2", stale)
	reg.PushTrivyDB(t, "fresh/trivy-db:2", acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(now)))
	reg.PushArtifact(t, "corrupt/trivy-db:2", "application/vnd.aquasec.trivy.config.v1+json", "db.tar.gz", "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip", []byte("this is not a gzip archive"))

	gone := httptest.NewServer(nil)
	goneHost := strings.TrimPrefix(gone.URL, "http://")
	gone.Close()

	// A cache filled from a reachable mirror, then used while the only
	// repository is unreachable: it is fresh, so the scan proceeds.
	warmCache := t.TempDir()
	acctest.BuildTrivyDB(t, filepath.Join(warmCache, "db"), []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(now))

	image := reg.Ref("alpine/fixed:1")
	cfg := func(repo, cacheDir, extra string) string {
		return fmt.Sprintf(`
provider "imageguard" {
  vulnerability_db {
    repositories = [%q]
    cache_dir    = %q
%s
  }
}
data "imageguard_scan" "x" {
  image = %q
}`, repo, cacheDir, extra, image)
	}
	cases := []struct {
		name, config, want string
	}{
		{"stale database", cfg(reg.Ref("stale/trivy-db:2"), t.TempDir(), ""),
			`(?s)updated 4d4h ago.*older than max_age \(72h\).*Refresh the mirror`},
		{"missing database with skip_update", cfg(reg.Ref("fresh/trivy-db:2"), t.TempDir(), "    skip_update = true"),
			`(?s)no vulnerability database in .*skip_update forbids downloading`},
		{"corrupt database", cfg(reg.Ref("corrupt/trivy-db:2"), t.TempDir(), ""),
			`(?s)No vulnerability database is available.*corrupt/trivy-db:2`},
		{"unreachable repository and no cache", cfg(goneHost+"/aquasecurity/trivy-db:2", t.TempDir(), ""),
			`(?s)No vulnerability database is available.*` + regexp.QuoteMeta(goneHost)},
		{"max_age tighter than the database's age", cfg(reg.Ref("fresh/trivy-db:2"), t.TempDir(), `    max_age = "1m"`),
			`(?s)older than max_age \(1m\)`},
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
	t.Run("unreachable repository with a fresh cache passes", func(t *testing.T) {
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps: []resource.TestStep{{
				Config: cfg(goneHost+"/aquasecurity/trivy-db:2", warmCache, ""),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.x", "passed", knownvalue.Bool(true)),
				},
			}},
		})
	})
}

func TestAccScanDataSource_vex(t *testing.T) {
	t.Parallel()
	f := newScanFixture(t)
	vexDoc := `{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/musl",
  "author": "Security Team",
  "timestamp": "2026-11-01T00:00:00Z",
  "version": 1,
  "statements": [{
    "vulnerability": {"name": "CVE-2025-26519"},
    "products": [{"@id": "pkg:apk/alpine/musl"}],
    "status": "not_affected",
    "justification": "vulnerable_code_not_in_execute_path"
  }]
}`
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: f.provider() + fmt.Sprintf(`
data "imageguard_scan" "vex" {
  image = %q
  vex   = [%q]
}`, f.reg.Ref("alpine/vulnerable:1"), vexDoc),
			ConfigStateChecks: []statecheck.StateCheck{
				check("data.imageguard_scan.vex", "passed", knownvalue.Bool(true)),
				check("data.imageguard_scan.vex", "ignored", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("CVE-2025-26519"), "reason": knownvalue.StringRegexp(regexp.MustCompile("VEX.*not_affected"))}),
				})),
			},
		}},
	})
}

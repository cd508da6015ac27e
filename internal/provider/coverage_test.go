package provider

import (
	"encoding/json"
	"fmt"
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

// coverageAdvisories adds advisory data for two more releases to
// acctest.FixtureAdvisories: alpine 3.9 (end of life on 2020-11-01 in Trivy
// v0.74.0's dates) and debian 13 (Trivy has no end-of-life date for it
// yet, so the control passes whatever the date). Neither has an advisory
// that affects the packages the images below install. Alpine 3.30 is on
// no list and has no data: a release newer than the database.
const coverageAdvisories = `- bucket: alpine 3.9
  pairs:
    - bucket: musl
      pairs:
        - key: CVE-2019-14697
          value:
            FixedVersion: "1.1.20-r5"
- bucket: debian 13
  pairs:
    - bucket: glibc
      pairs:
        - key: CVE-2025-4802
          value:
            FixedVersion: "2.41-1"
- bucket: vulnerability
  pairs:
    - key: CVE-2019-14697
      value:
        Title: "musl: x87 floating-point stack adjustment imbalance"
        Severity: CRITICAL
        VendorSeverity:
          nvd: 4
`

type coverageFixture struct {
	*scanFixture
}

func newCoverageFixture(t *testing.T) *coverageFixture {
	t.Helper()
	reg := acctest.NewRegistry(t)
	now := time.Now().UTC()
	archive := acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories, coverageAdvisories}, acctest.DBMeta{UpdatedAt: now.Add(-2 * time.Hour), NextUpdate: now.Add(22 * time.Hour)})
	reg.PushTrivyDB(t, "aquasecurity/trivy-db:2", archive)
	reg.Push(t, "alpine/next:1", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.30.1", acctest.Package{Name: "musl", Version: "1.2.6-r0"})))
	reg.Push(t, "alpine/old:1", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.9.6", acctest.Package{Name: "musl", Version: "1.1.20-r6"})))
	reg.Push(t, "debian/trixie:1", acctest.Image(acctest.Config{}, acctest.DebianLayer("13", acctest.Package{Name: "libc6", Version: "2.41-12", Source: "glibc"})))
	return &coverageFixture{&scanFixture{reg: reg, dbRepo: reg.Ref("aquasecurity/trivy-db:2"), cacheDir: t.TempDir()}}
}

func (f *coverageFixture) scan(name, repoTag, extra string) string {
	return f.provider() + fmt.Sprintf(`
data "imageguard_scan" %q {
  image = %q
%s
}`, name, f.reg.Ref(repoTag), extra)
}

func ignoreBlock(id, reason, expires string) string {
	return fmt.Sprintf(`
  ignore {
    id      = %q
    reason  = %q
    expires = %q
  }`, id, reason, expires)
}

func TestAccCoverage_unsupportedRelease(t *testing.T) {
	t.Parallel()
	f := newCoverageFixture(t)
	future := time.Now().AddDate(0, 1, 0).Format("2006-01-02")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				// Nothing found, but nothing was checked: a violation, not a pass.
				Config: f.scan("next", "alpine/next:1", ""),
				ExpectError: wrapped(`(?s)Image has an OS release without vulnerability data.*` +
					`alpine/next:1 \(sha256:[0-9a-f]{64}\) failed the scan gate: 1 platform\(s\) on an OS release the vulnerability database does not cover \(OS-UNSUPPORTED\).*` +
					`Vulnerability database: version 2.*` +
					`alpine/next:1 \(sha256:[0-9a-f]{64}, linux/amd64\): OS alpine 3.30.1 is not covered by the vulnerability database \(version 2, updated [0-9T:Z-]+, from [^)]*aquasecurity/trivy-db:2\): the database has no "alpine 3.30" advisories.*` +
					`update the database \(or its mirror\).*` +
					`ignore \{ id = "OS-UNSUPPORTED", reason = "…", expires = "YYYY-MM-DD" \}`),
			},
			{
				Config: f.scan("next", "alpine/next:1", ignoreBlock("OS-UNSUPPORTED", "edge builders only; vendor feed read by the platform team", future)),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.next", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.next", "pinned", knownvalue.NotNull()),
					check("data.imageguard_scan.next", "violations", knownvalue.ListSizeExact(0)),
					check("data.imageguard_scan.next", "ignored", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"id": knownvalue.StringExact("OS-UNSUPPORTED"), "package": knownvalue.StringExact("alpine 3.30.1"), "platform": knownvalue.StringExact("linux/amd64"),
							"reason": knownvalue.StringExact("ignore: edge builders only; vendor feed read by the platform team (until " + future + ")"),
						}),
					})),
				},
			},
			{
				Config: f.scan("next", "alpine/next:1", `  enforcement = "warn"`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.next", "passed", knownvalue.Bool(false)),
					check("data.imageguard_scan.next", "pinned", knownvalue.StringRegexp(regexp.MustCompile(`/alpine/next@sha256:[0-9a-f]{64}$`))),
					check("data.imageguard_scan.next", "violations", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"rule": knownvalue.StringExact("OS-UNSUPPORTED"), "platform": knownvalue.StringExact("linux/amd64"),
							"message": knownvalue.StringRegexp(regexp.MustCompile(`OS alpine 3\.30\.1 is not covered.*no "alpine 3\.30" advisories.*requires an OS release the vulnerability database has advisory data for`)),
						}),
					})),
				},
			},
		},
	})
}

func TestAccCoverage_endOfLife(t *testing.T) {
	t.Parallel()
	f := newCoverageFixture(t)
	future := time.Now().AddDate(0, 1, 0).Format("2006-01-02")
	past := time.Now().AddDate(0, 0, -2).Format("2006-01-02")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				// The database has alpine 3.9 advisories, so only end of life fails.
				Config: f.scan("old", "alpine/old:1", ""),
				ExpectError: wrapped(`(?s)` + strings.Join([]string{
					`Image has an end-of-life OS release`,
					`alpine/old:1 \(sha256:[0-9a-f]{64}\) failed the scan gate: 1 platform\(s\) on an end-of-life OS release \(OS-EOSL\)\.`,
					`linux/amd64\): OS alpine 3\.9\.6 is end of life`,
					`What to do: rebuild on a supported OS release`,
					`ignore \{ id = "OS-EOSL"`,
				}, `.*`)),
			},
			{
				Config: f.scan("old", "alpine/old:1", ignoreBlock("OS-EOSL", "migrating to alpine 3.23 this quarter", future)),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.old", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.old", "findings", knownvalue.ListSizeExact(0)),
					check("data.imageguard_scan.old", "ignored", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("OS-EOSL"), "package": knownvalue.StringExact("alpine 3.9.6"),
							"reason": knownvalue.StringRegexp(regexp.MustCompile(`migrating to alpine 3\.23`))}),
					})),
				},
			},
			{
				// An expired ignore accepts nothing, and says so.
				Config:      f.scan("old", "alpine/old:1", ignoreBlock("OS-EOSL", "migrating to alpine 3.23 this quarter", past)),
				ExpectError: wrapped(`(?s)Image has an end-of-life OS release.*OS-EOSL`),
			},
			{
				Config: f.scan("old", "alpine/old:1", `  enforcement = "warn"`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.old", "passed", knownvalue.Bool(false)),
					check("data.imageguard_scan.old", "pinned", knownvalue.NotNull()),
					check("data.imageguard_scan.old", "violations", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"rule": knownvalue.StringExact("OS-EOSL"), "platform": knownvalue.StringExact("linux/amd64"),
							"message": knownvalue.StringRegexp(regexp.MustCompile(`alpine/old:1 \(sha256:[0-9a-f]{64}, linux/amd64\): OS alpine 3\.9\.6 is end of life.*version 2, updated`)),
						}),
					})),
				},
			},
		},
	})
}

func TestAccCoverage_supportedReleasePasses(t *testing.T) {
	t.Parallel()
	f := newCoverageFixture(t)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.scan("trixie", "debian/trixie:1", ""),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.trixie", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.trixie", "violations", knownvalue.ListSizeExact(0)),
					check("data.imageguard_scan.trixie", "targets", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{"platform": knownvalue.StringExact("linux/amd64"), "target": knownvalue.StringExact("os: debian 13.0")}),
					})),
				},
			},
			{
				// Coverage is judged only when OS packages are scanned for
				// vulnerabilities: a secrets-only scan does not claim it.
				Config: f.scan("next", "alpine/next:1", `  scanners = ["secret"]`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.next", "passed", knownvalue.Bool(true)),
				},
			},
		},
	})
}

func TestAccCoverage_policyReports(t *testing.T) {
	t.Parallel()
	f := newCoverageFixture(t)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: f.provider() + fmt.Sprintf(`
data "imageguard_policy" "fleet" {
  images = {
    next   = %q
    old    = %q
    trixie = %q
  }
  scan {
    severity_threshold = "HIGH"
  }
  enforcement = "warn"
}`, f.reg.Ref("alpine/next:1"), f.reg.Ref("alpine/old:1"), f.reg.Ref("debian/trixie:1")),
			ConfigStateChecks: []statecheck.StateCheck{
				check("data.imageguard_policy.fleet", "results", knownvalue.MapPartial(map[string]knownvalue.Check{
					"next":   knownvalue.ObjectPartial(map[string]knownvalue.Check{"passed": knownvalue.Bool(false), "violations": knownvalue.ListSizeExact(1)}),
					"old":    knownvalue.ObjectPartial(map[string]knownvalue.Check{"passed": knownvalue.Bool(false), "violations": knownvalue.ListSizeExact(1)}),
					"trixie": knownvalue.ObjectPartial(map[string]knownvalue.Check{"passed": knownvalue.Bool(true), "violations": knownvalue.ListSizeExact(0)}),
				})),
			},
			Check: func(s *terraform.State) error {
				attrs := s.RootModule().Resources["data.imageguard_policy.fleet"].Primary.Attributes
				var rep struct {
					Images []struct {
						Name       string `json:"name"`
						Violations []struct {
							Rule, Subject, Platform, Fix string
						} `json:"violations"`
					} `json:"images"`
				}
				if err := json.Unmarshal([]byte(attrs["report_json"]), &rep); err != nil {
					return fmt.Errorf("report_json: %v", err)
				}
				got := map[string]string{}
				for _, img := range rep.Images {
					for _, v := range img.Violations {
						got[img.Name] += v.Rule + " " + v.Subject + " " + v.Platform + ";"
						if !strings.Contains(v.Fix, `ignore { id = "`+v.Rule+`"`) {
							return fmt.Errorf("%s: fix %q does not say how to accept the risk", img.Name, v.Fix)
						}
					}
				}
				want := map[string]string{"next": "OS-UNSUPPORTED alpine 3.30.1 linux/amd64;", "old": "OS-EOSL alpine 3.9.6 linux/amd64;"}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					return fmt.Errorf("report_json violations = %v, want %v", got, want)
				}
				var sarif struct {
					Runs []struct {
						Tool struct {
							Driver struct {
								Rules []struct {
									ID               string
									ShortDescription struct{ Text string } `json:"shortDescription"`
								}
							}
						}
					} `json:"runs"`
				}
				if err := json.Unmarshal([]byte(attrs["report_sarif"]), &sarif); err != nil {
					return fmt.Errorf("report_sarif: %v", err)
				}
				var rules []string
				for _, r := range sarif.Runs[0].Tool.Driver.Rules {
					rules = append(rules, r.ID+": "+r.ShortDescription.Text)
				}
				if w := "OS-EOSL: OS release past its end of life,OS-UNSUPPORTED: OS release without vulnerability data"; strings.Join(rules, ",") != w {
					return fmt.Errorf("SARIF rules = %v, want %s", rules, w)
				}
				return nil
			},
		}},
	})
}

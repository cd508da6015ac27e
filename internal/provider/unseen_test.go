package provider

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// unscoredAdvisory is an alpine 3.23 advisory for zstd with no severity
// from any source: a CVE too new to be scored.
const unscoredAdvisory = `- bucket: alpine 3.23
  pairs:
    - bucket: zstd
      pairs:
        - key: CVE-2099-11111
          value:
            FixedVersion: "1.5.7-r1"
`

// newUnseenFixture holds images whose OS packages cannot be seen, and one
// with a finding nobody scored.
func newUnseenFixture(t *testing.T) *scanFixture {
	t.Helper()
	reg := acctest.NewRegistry(t)
	now := time.Now().UTC()
	archive := acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories, unscoredAdvisory}, acctest.DBMeta{UpdatedAt: now.Add(-2 * time.Hour), NextUpdate: now.Add(22 * time.Hour)})
	reg.PushTrivyDB(t, "aquasecurity/trivy-db:2", archive)
	// The package database deleted to slim the image, or to hide a
	// vulnerable musl: Alpine is detected, nothing is listed.
	reg.Push(t, "alpine/deleted:1", acctest.Image(acctest.Config{User: "1000"}, acctest.Layer(
		acctest.File{Path: "etc/"},
		acctest.File{Path: "etc/os-release", Content: "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.23.2\n"},
		acctest.File{Path: "etc/alpine-release", Content: "3.23.2\n"},
		acctest.File{Path: "lib/"},
		acctest.File{Path: "lib/ld-musl-x86_64.so.1", Content: "musl 1.2.5-r0"},
	)))
	// Emptied rather than deleted.
	reg.Push(t, "alpine/emptied:1", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2")))
	// Control: the same OS with its packages listed.
	reg.Push(t, "alpine/listed:1", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	reg.Push(t, "alpine/unscored:1", acctest.Image(acctest.Config{User: "1000"},
		acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}, acctest.Package{Name: "zstd", Version: "1.5.7-r0"})))
	return &scanFixture{reg: reg, dbRepo: reg.Ref("aquasecurity/trivy-db:2"), cacheDir: t.TempDir()}
}

func (f *scanFixture) scanOf(repoTag, extra string) string {
	return f.provider() + fmt.Sprintf(`
data "imageguard_scan" "x" {
  image = %q
%s
}`, f.reg.Ref(repoTag), extra)
}

// An OS whose package database is gone is "could not judge", not "clean".
func TestAccCoverage_packageDatabaseUnseen(t *testing.T) {
	t.Parallel()
	f := newUnseenFixture(t)
	future := time.Now().AddDate(0, 1, 0).Format("2006-01-02")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.scanOf("alpine/deleted:1", ""),
				ExpectError: wrapped(`(?s)Image has an OS whose packages cannot be seen.*alpine/deleted:1 \(sha256:[0-9a-f]{64}\) failed the scan gate: 1 platform\(s\) with an OS but no readable OS package database \(OS-PACKAGES-UNSEEN\).*` +
					`linux/amd64\): OS alpine 3\.23\.2 was detected but no OS package was found: its package database \(/lib/apk/db/installed\) is missing or empty.*` +
					`ignore \{ id = "OS-PACKAGES-UNSEEN"`),
			},
			{
				Config:      f.scanOf("alpine/emptied:1", ""),
				ExpectError: wrapped(`(?s)OS-PACKAGES-UNSEEN`),
			},
			{
				// An explicit, reasoned acceptance, as for the other coverage rules.
				Config: f.scanOf("alpine/deleted:1", ignoreBlock("OS-PACKAGES-UNSEEN", "static binary on a config-only alpine layer; audited at build", future)),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.x", "ignored", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("OS-PACKAGES-UNSEEN"), "package": knownvalue.StringExact("alpine 3.23.2"),
							"reason": knownvalue.StringRegexp(regexp.MustCompile(`audited at build`))}),
					})),
				},
			},
			{
				// Control: packages listed, nothing to accept.
				Config: f.scanOf("alpine/listed:1", ""),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.x", "ignored", knownvalue.ListSizeExact(0)),
				},
			},
		},
	})
}

// A finding nobody scored is never silent: it fails by default, warns or is
// recorded as ignored when the user says so.
func TestAccScan_unscoredFindings(t *testing.T) {
	t.Parallel()
	f := newUnseenFixture(t)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config:      f.scanOf("alpine/unscored:1", `  unknown_severity = "sometimes"`),
				ExpectError: wrapped(`(?s)unknown_severity.*fail.*warn.*ignore`),
			},
			{
				Config: f.scanOf("alpine/unscored:1", ""),
				ExpectError: wrapped(`(?s)Image has vulnerabilities nobody scored yet.*1 finding\(s\) with no severity yet, which the threshold cannot place \(unknown-severity\).*` +
					`CVE-2099-11111 in zstd 1\.5\.7-r0`),
			},
			{
				Config: f.scanOf("alpine/unscored:1", `  unknown_severity = "warn"`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.x", "findings", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("CVE-2099-11111"), "severity": knownvalue.StringExact("UNKNOWN")}),
					})),
				},
			},
			{
				Config: f.scanOf("alpine/unscored:1", `  unknown_severity = "ignore"`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.x", "ignored", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"id": knownvalue.StringExact("CVE-2099-11111"),
							"reason": knownvalue.StringRegexp(regexp.MustCompile(`unknown_severity = "ignore"`))}),
					})),
				},
			},
			{
				// A threshold of UNKNOWN already counts it as a finding.
				Config:      f.scanOf("alpine/unscored:1", `  severity_threshold = "UNKNOWN"`),
				ExpectError: wrapped(`(?s)Image has UNKNOWN vulnerabilities.*CVE-2099-11111`),
			},
		},
	})
}

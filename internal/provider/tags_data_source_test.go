package provider

import (
	"fmt"
	"regexp"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// pushReleases pushes team/svc: 1.0.0 with a HIGH finding (musl
// CVE-2025-26519), 1.1.0 and 1.2.0 fixed, and the tags that are not
// releases (latest, the alias 1.2, a branch build).
func pushReleases(t *testing.T, push func(testing.TB, string, v1.Image) v1.Hash) map[string]string {
	t.Helper()
	fixed := func(user string) v1.Image {
		return acctest.Image(acctest.Config{User: user}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}))
	}
	d := map[string]string{}
	d["1.0.0"] = push(t, "team/svc:1.0.0", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"}))).String()
	d["1.1.0"] = push(t, "team/svc:1.1.0", fixed("1001")).String()
	d["1.2.0"] = push(t, "team/svc:1.2.0", fixed("1002")).String()
	for _, tag := range []string{"latest", "1.2", "main-3f2a"} {
		d[tag] = push(t, "team/svc:"+tag, fixed("1002")).String()
	}
	return d
}

// TestAccTagsDataSource_rescan is the guide's scheduled rescan: the last
// releases of a service go through imageguard_policy; the plan fails as
// soon as one of them no longer passes.
func TestAccTagsDataSource_rescan(t *testing.T) {
	t.Parallel()
	f := newScanFixture(t)
	d := pushReleases(t, f.reg.Push)
	cfg := func(limit int) string {
		return f.provider() + fmt.Sprintf(`
data "imageguard_tags" "svc" {
  repository = %q
  limit      = %d
}
data "imageguard_policy" "rescan" {
  images = data.imageguard_tags.svc.references
  scan {
    severity_threshold = "HIGH"
  }
}`, f.reg.Ref("team/svc"), limit)
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg(2),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_tags.svc", "tags", knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("1.2.0"), knownvalue.StringExact("1.1.0")})),
					check("data.imageguard_tags.svc", "references", knownvalue.MapExact(map[string]knownvalue.Check{
						"1.2.0": knownvalue.StringExact(f.reg.Ref("team/svc@" + d["1.2.0"])),
						"1.1.0": knownvalue.StringExact(f.reg.Ref("team/svc@" + d["1.1.0"])),
					})),
					check("data.imageguard_policy.rescan", "pinned", knownvalue.MapSizeExact(2)),
				},
			},
			{
				// One more release back: 1.0.0 no longer passes.
				Config:      cfg(3),
				ExpectError: wrapped(`(?s)"1\.0\.0".*CVE-2025-26519`),
			},
		},
	})
}

func TestAccTagsDataSource_pagesFilterOrder(t *testing.T) {
	t.Parallel()
	reg := acctest.NewHostileRegistry(t)
	d := pushReleases(t, reg.Push)
	reg.Inject(acctest.Fault{Path: acctest.TagsPath("team/svc"), Kind: acctest.FaultTagPages, PageSize: 2})
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
provider "imageguard" {}
data "imageguard_tags" "all" {
  repository = %[1]q
  order      = "lexical"
}
data "imageguard_tags" "minor" {
  repository = %[1]q
  filter     = "1\\.[0-9]+\\.0"
}`, reg.Ref("team/svc")),
			ConfigStateChecks: []statecheck.StateCheck{
				// six tags over three Link pages of two
				check("data.imageguard_tags.all", "tags", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.StringExact("main-3f2a"), knownvalue.StringExact("latest"), knownvalue.StringExact("1.2.0"),
					knownvalue.StringExact("1.2"), knownvalue.StringExact("1.1.0"), knownvalue.StringExact("1.0.0"),
				})),
				check("data.imageguard_tags.all", "references", knownvalue.MapPartial(map[string]knownvalue.Check{
					"latest": knownvalue.StringExact(reg.Ref("team/svc@" + d["latest"])),
				})),
				check("data.imageguard_tags.minor", "tags", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.StringExact("1.2.0"), knownvalue.StringExact("1.1.0"), knownvalue.StringExact("1.0.0"),
				})),
			},
		}},
	})
	if n := len(reg.Faulted()); n < 6 {
		t.Fatalf("tag-list pages served = %d, want 3 per read (at least two reads)", n)
	}
}

func TestAccTagsDataSource_hostileAndBadInputs(t *testing.T) {
	t.Parallel()
	reg := acctest.NewHostileRegistry(t)
	pushReleases(t, reg.Push)
	reg.Inject(acctest.Fault{Path: acctest.TagsPath("team/svc"), Kind: acctest.FaultLinkLoop, PageSize: 2})
	cfg := func(attrs string) string {
		return fmt.Sprintf("provider \"imageguard\" {}\ndata \"imageguard_tags\" \"svc\" {\n%s\n}\n", attrs)
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config:      cfg(fmt.Sprintf("repository = %q", reg.Ref("team/svc"))),
				ExpectError: wrapped(`(?s)Tag listing stopped at its bound.*a pagination loop.*` + regexp.QuoteMeta(reg.Ref("team/svc"))),
			},
			{
				Config:      cfg(fmt.Sprintf("repository = %q", reg.Ref("team/svc:1.2.0"))),
				ExpectError: wrapped(`(?s)Invalid repository.*names a tag or digest: give the repository alone, e.g. ` + regexp.QuoteMeta(reg.Ref("team/svc"))),
			},
			{
				Config:      cfg(fmt.Sprintf("repository = %q\nfilter = \"v(1\"", reg.Ref("team/svc"))),
				ExpectError: wrapped(`(?s)Invalid filter.*"v\(1" is not a regular expression`),
			},
			{
				Config:      cfg(fmt.Sprintf("repository = %q\norder = \"newest\"", reg.Ref("team/svc"))),
				ExpectError: wrapped(`(?s)order.*"semver".*"lexical"`),
			},
		},
	})
}

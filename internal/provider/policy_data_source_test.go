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

type policyFixture struct {
	*scanFixture
}

func newPolicyFixture(t *testing.T) *policyFixture {
	f := &policyFixture{newScanFixture(t)}
	labels := map[string]string{"org.opencontainers.image.source": "https://github.com/acme/app"}
	f.reg.Push(t, "team/good:1", acctest.Image(acctest.Config{User: "10001", Labels: labels, ExposedPorts: []string{"8080/tcp"}},
		acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	f.reg.Push(t, "team/root:1", acctest.Image(acctest.Config{User: "0:0", Labels: labels},
		acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	f.reg.Push(t, "team/ssh:1", acctest.Image(acctest.Config{User: "10001", Labels: labels, ExposedPorts: []string{"22/tcp"}},
		acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}, acctest.Package{Name: "openssh-server", Version: "9.7_p1-r4"}),
		acctest.Layer(acctest.File{Path: "bin/"}, acctest.File{Path: "bin/sh", Content: "#!"})))
	return f
}

func (f *policyFixture) config(extra string) string {
	return f.provider() + fmt.Sprintf(`
data "imageguard_policy" "fleet" {
  images = {
    good      = %q
    good_copy = %q
    root      = %q
    ssh       = %q
    fixed     = %q
  }
  trusted_registries = [%q]
  require_non_root   = true
  required_labels    = { "org.opencontainers.image.source" = "^https://github\\.com/acme/" }
  forbidden_ports    = ["22"]
  forbidden_packages = ["openssh-server"]
  forbidden_paths    = ["/bin/sh"]
  scan {
    severity_threshold = "HIGH"
  }
%s
}`, f.reg.Ref("team/good:1"), f.reg.Ref("team/good:1"), f.reg.Ref("team/root:1"), f.reg.Ref("team/ssh:1"), f.reg.Ref("alpine/fixed:1"), f.reg.Host+"/", extra)
}

func TestAccPolicy_mixedImages(t *testing.T) {
	t.Parallel()
	f := newPolicyFixture(t)
	future := time.Now().AddDate(0, 2, 0).Format("2006-01-02")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				// Two images fail, each with its own complete diagnostic.
				Config:      f.config(""),
				ExpectError: wrapped(`(?s)Image "root" violates the policy.*require_non_root.*0:0`),
			},
			{
				Config:      f.config(""),
				ExpectError: wrapped(`(?s)Image "ssh" violates the policy \(3 violation\(s\)\).*forbidden_packages.*openssh-server.*forbidden_paths.*/bin/sh.*forbidden_ports.*22/tcp`),
			},
			{
				// Audit mode: every image is pinned, results say who failed.
				Config: f.config(`  enforcement = "warn"`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_policy.fleet", "pinned", knownvalue.MapSizeExact(5)),
					check("data.imageguard_policy.fleet", "results", knownvalue.MapPartial(map[string]knownvalue.Check{
						"good":      knownvalue.ObjectPartial(map[string]knownvalue.Check{"passed": knownvalue.Bool(true), "violations": knownvalue.ListSizeExact(0)}),
						"good_copy": knownvalue.ObjectPartial(map[string]knownvalue.Check{"passed": knownvalue.Bool(true)}),
						"root":      knownvalue.ObjectPartial(map[string]knownvalue.Check{"passed": knownvalue.Bool(false), "violations": knownvalue.ListSizeExact(1)}),
						"ssh":       knownvalue.ObjectPartial(map[string]knownvalue.Check{"passed": knownvalue.Bool(false), "violations": knownvalue.ListSizeExact(3)}),
						"fixed":     knownvalue.ObjectPartial(map[string]knownvalue.Check{"passed": knownvalue.Bool(false)}), // no source label
					})),
				},
				Check: func(s *terraform.State) error {
					attrs := s.RootModule().Resources["data.imageguard_policy.fleet"].Primary.Attributes
					var rep struct {
						SchemaVersion string `json:"schema_version"`
						Images        []struct {
							Name   string `json:"name"`
							Passed bool   `json:"passed"`
						} `json:"images"`
					}
					if err := json.Unmarshal([]byte(attrs["report_json"]), &rep); err != nil {
						return fmt.Errorf("report_json: %v", err)
					}
					if rep.SchemaVersion != "imageguard.report/v1" || len(rep.Images) != 5 || rep.Images[0].Name != "fixed" {
						return fmt.Errorf("report_json: %+v", rep)
					}
					var sarif struct {
						Version string `json:"version"`
						Runs    []struct {
							Results []struct {
								RuleID string `json:"ruleId"`
							} `json:"results"`
						} `json:"runs"`
					}
					if err := json.Unmarshal([]byte(attrs["report_sarif"]), &sarif); err != nil {
						return fmt.Errorf("report_sarif: %v", err)
					}
					if sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || len(sarif.Runs[0].Results) < 5 {
						return fmt.Errorf("report_sarif: %+v", sarif)
					}
					return nil
				},
			},
			{
				// Exceptions with reason and expiry cover the failures: the plan passes.
				Config: f.config(fmt.Sprintf(`
  exception {
    rule    = "require_non_root"
    reason  = "legacy image, migration tracked in OPS-12"
    expires = %[1]q
  }
  exception {
    rule    = "required_labels"
    image   = "fixed"
    reason  = "vendor image"
    expires = %[1]q
    owner   = "platform-team"
  }
  exception {
    rule    = "forbidden_ports"
    finding = "22"
    image   = "ssh"
    reason  = "bastion"
    expires = %[1]q
  }
  exception {
    rule    = "forbidden_packages"
    image   = "ssh"
    reason  = "bastion"
    expires = %[1]q
  }
  exception {
    rule    = "forbidden_paths"
    image   = "ssh"
    reason  = "bastion"
    expires = %[1]q
  }`, future)),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_policy.fleet", "pinned", knownvalue.MapSizeExact(5)),
					check("data.imageguard_policy.fleet", "results", knownvalue.MapPartial(map[string]knownvalue.Check{
						"ssh": knownvalue.ObjectPartial(map[string]knownvalue.Check{"passed": knownvalue.Bool(true)}),
					})),
				},
			},
		},
	})
}

// Names sharing a digest are judged once: the layers of the shared image
// are fetched once, as for a single name.
func TestAccPolicy_duplicatesShareOneScan(t *testing.T) {
	t.Parallel()
	f := newScanFixture(t)
	count := func(names int) int {
		var entries []string
		for i := 0; i < names; i++ {
			entries = append(entries, fmt.Sprintf("    n%d = %q", i, f.reg.Ref("node/app:1")))
		}
		cfg := fmt.Sprintf(`
provider "imageguard" {
  vulnerability_db {
    repositories = [%q]
    cache_dir    = %q
  }
}
data "imageguard_policy" "p" {
  images = {
%s
  }
  scan {
    enforcement = "warn"
  }
  enforcement = "warn"
}`, f.dbRepo, t.TempDir(), strings.Join(entries, "\n"))
		blobs := 0
		resource.UnitTest(t, resource.TestCase{
			PreCheck:                 preCheck(t),
			ProtoV6ProviderFactories: protoV6Factories,
			Steps: []resource.TestStep{{
				PreConfig: f.reg.ResetRequests,
				Config:    cfg,
				Check: func(*terraform.State) error {
					blobs = f.reg.CountBlobs()
					return nil
				},
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_policy.p", "results", knownvalue.MapSizeExact(names)),
				},
			}},
		})
		return blobs
	}
	one, four := count(1), count(4)
	if one != four || one == 0 {
		t.Fatalf("blob requests: one name %d, four names for the same digest %d: want equal (one scan)", one, four)
	}
	_ = regexp.MustCompile
}

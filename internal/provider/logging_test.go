package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// TF_LOG=debug on a scan plan shows the registry requests, the database
// decision and the scan of each platform of an index, and never the
// registry password or the text of a secret found in the image.
func TestAccLogging_scanPlanIsTraceable(t *testing.T) {
	const user, password = "logger", "pw-never-in-logs-7f3a9c"
	reg := acctest.NewRegistry(t, acctest.WithBasicAuth(user, password))
	now := time.Now().UTC()
	reg.PushTrivyDB(t, "aquasecurity/trivy-db:2", acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.DBMeta{UpdatedAt: now.Add(-2 * time.Hour), NextUpdate: now.Add(22 * time.Hour)}))
	const secretValue = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYLOGS"
	amd := acctest.Image(acctest.Config{Env: []string{"AWS_SECRET_ACCESS_KEY=" + secretValue}}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}))
	arm := acctest.Image(acctest.Config{Architecture: "arm64"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}))
	reg.PushIndex(t, "team/multi:1", acctest.Index(amd, arm))

	logPath := filepath.Join(t.TempDir(), "provider.log")
	t.Setenv("TF_LOG", "DEBUG")
	t.Setenv("TF_ACC_LOG_PATH", logPath)
	config := fmt.Sprintf(`
provider "imageguard" {
  registry {
    address  = %q
    username = %q
    password = %q
  }
  vulnerability_db {
    repositories = [%q]
    cache_dir    = %q
  }
}
data "imageguard_scan" "x" {
  image       = %q
  enforcement = "warn"
  ignore {
    id     = "OS-EOSL"
    reason = "fixture release"
  }
}`, reg.Host, user, password, reg.Ref("aquasecurity/trivy-db:2"), t.TempDir(), reg.Ref("team/multi:1"))
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps:                    []resource.TestStep{{Config: config}},
	})
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// The test harness echoes the configuration (password included) into
	// the same file, as "  | " lines; everything else must be clean.
	var kept []string
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "  |") {
			kept = append(kept, line)
		}
	}
	log := strings.Join(kept, "\n")
	for _, want := range []string{
		`imageguard.registry: registry request:`, `kind="manifests 1"`, `status=200`,
		`imageguard.vulndb: vulnerability database chosen:`, `downloaded=true`,
		`imageguard.scan: platform scanned:`, `platform=linux/amd64`, `platform=linux/arm64`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the debug log lacks %q", want)
		}
	}
	for _, secret := range []string{password, secretValue} {
		if strings.Contains(log, secret) {
			t.Errorf("the debug log holds the secret %q", secret)
		}
	}
}

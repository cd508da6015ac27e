package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// TestCheckActionSavedPlan is the window the action closes: a plan judged
// the image and was saved; a CVE was published before the apply (as when
// HCP Terraform applies on another worker hours later). The saved plan's
// data sources are not read again, so without the action the apply would
// deploy the image. imageguard_check judges it again and halts the apply.
// `terraform apply -invoke` runs the same check alone (day 2), with its
// progress in the output.
func TestCheckActionSavedPlan(t *testing.T) {
	if os.Getenv("TF_ACC") != "" { // before setup builds the provider
		if cli := acctest.DetectCLI(t, terraformPath(t)); cli.OpenTofu || !cli.AtLeast(1, 14) {
			t.Skipf("%s has no actions (Terraform 1.14 added them; OpenTofu has none)", cli)
		}
	}
	e := setup(t)
	reg := acctest.NewRegistry(t)
	// NextUpdate in the past: every provider process downloads the
	// database again, so the apply sees what was published after the plan.
	publish := func(fixtures ...string) {
		now := time.Now().UTC()
		reg.PushTrivyDB(t, "aquasecurity/trivy-db:2", acctest.TrivyDBArchive(t, append([]string{acctest.FixtureAdvisories}, fixtures...),
			acctest.DBMeta{UpdatedAt: now.Add(-time.Hour), NextUpdate: now.Add(-time.Minute)}))
	}
	publish()
	d := reg.Push(t, "team/api:1.4.2", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	image := reg.Ref("team/api@" + d.String())

	w := e.workspace(t, "e2e-check")
	vars := varFlags([]string{"image=" + image, "db_repository=" + reg.Ref("aquasecurity/trivy-db:2"), "cache_dir=" + t.TempDir()})
	w.mustTerraform(nil, append([]string{"plan", "-input=false", "-no-color", "-out=tfplan"}, vars...)...)

	// CVE-2026-0001 (CRITICAL, musl fixed in 1.2.5-r2) is published.
	publish(acctest.FixtureNewAdvisory)
	r := w.terraform(nil, "apply", "-input=false", "-no-color", "tfplan")
	if r.code == 0 {
		t.Fatalf("the saved plan's apply passed an image that fails now: %s", r)
	}
	for _, want := range []string{"CVE-2026-0001", image, "imageguard: checking " + image} {
		if !strings.Contains(r.combined, want) {
			t.Errorf("apply output lacks %q:\n%s", want, r.combined)
		}
	}
	if list := w.terraform(nil, "state", "list", "-no-color"); strings.Contains(list.stdout, "terraform_data.service") {
		t.Fatalf("the service was created although the check failed:\n%s", list.stdout)
	}

	// Day 2: the check alone, on the same database, then after the advisory
	// is withdrawn (the control).
	invoke := append([]string{"apply", "-auto-approve", "-input=false", "-no-color", "-invoke=action.imageguard_check.api"}, vars...)
	if r := w.terraform(nil, invoke...); r.code == 0 || !strings.Contains(r.combined, "CVE-2026-0001") {
		t.Fatalf("-invoke on a failing image: %s", r)
	}
	publish()
	r = w.mustTerraform(nil, invoke...)
	for _, want := range []string{"imageguard: checking " + image, "imageguard: " + image + " passes"} {
		if !strings.Contains(r.combined, want) {
			t.Errorf("-invoke output lacks %q:\n%s", want, r.combined)
		}
	}
}

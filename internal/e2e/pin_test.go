package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// accessLog counts requests in docker-registry's access log.
type accessLog struct {
	path string
}

var accessLine = regexp.MustCompile(`"(GET|HEAD) /v2/[^ ]*/(manifests|blobs)/`)

func (a accessLog) counts(t *testing.T) (manifests, blobs int) {
	t.Helper()
	b, err := os.ReadFile(a.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		m := accessLine.FindStringSubmatch(line)
		switch {
		case m == nil:
		case m[2] == "manifests":
			manifests++
		case m[1] == "GET":
			blobs++
		}
	}
	return manifests, blobs
}

// TestPinNoChangePlan: ten pins against Debian's docker-registry; once
// approved, a plan with nothing changed makes one manifest request per pin,
// fetches no blob and runs no scan (the reports are cached per digest and
// database). Its wall time is printed for the closing note; only the counts
// are asserted.
func TestPinNoChangePlan(t *testing.T) {
	e := setup(t)
	reg := startDockerRegistry(t, "")
	const pins = 10
	var images []string
	for i := 0; i < pins; i++ {
		ref := fmt.Sprintf("%s/team/app%d:1", reg.Host, i)
		img := acctest.Image(acctest.Config{User: fmt.Sprint(1000 + i)}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}),
			acctest.Layer(acctest.File{Path: "app/"}, acctest.File{Path: "app/id", Content: fmt.Sprint(i)}))
		push(t, ref, img, authn.Anonymous)
		images = append(images, fmt.Sprintf("%q", ref))
	}
	now := time.Now().UTC()
	(&acctest.Registry{Host: reg.Host}).PushTrivyDB(t, "aquasecurity/trivy-db:2", acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(now)))

	w := e.workspace(t, "e2e-pins")
	vars := []string{
		"-var", "images=[" + strings.Join(images, ",") + "]",
		"-var", "db_repository=" + reg.Host + "/aquasecurity/trivy-db:2",
		"-var", "cache_dir=" + t.TempDir(),
	}
	w.mustTerraform(nil, append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, vars...)...)

	log := accessLog{path: reg.LogPath}
	m0, b0 := log.counts(t)
	start := time.Now()
	r := w.terraform(nil, append([]string{"plan", "-detailed-exitcode", "-input=false", "-no-color"}, vars...)...)
	elapsed := time.Since(start)
	if r.code != 0 {
		t.Fatalf("a plan with nothing changed must report no changes (exit 0): %s", r)
	}
	m1, b1 := log.counts(t)
	manifests, blobs := m1-m0, b1-b0
	t.Logf("no-change plan of %d pins: %s wall, %d manifest requests, %d blob requests", pins, elapsed.Round(time.Millisecond), manifests, blobs)
	fmt.Printf("BENCH pin-noop pins=%d wall=%s manifest_requests=%d blob_requests=%d\n", pins, elapsed.Round(time.Millisecond), manifests, blobs)
	if manifests != pins {
		b, _ := os.ReadFile(reg.LogPath)
		lines := strings.Split(string(b), "\n")
		for _, l := range lines {
			if strings.HasPrefix(l, "127.0.0.1 - -") && strings.Contains(l, "app1/") {
				t.Log(l)
			}
		}
		t.Errorf("manifest requests = %d, want %d (one per pin)", manifests, pins)
	}
	if blobs != 0 {
		t.Errorf("blob requests = %d, want 0: nothing changed, so nothing should be downloaded or scanned", blobs)
	}
}

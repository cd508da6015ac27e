//go:build bench

package scanvstrivy

import (
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// trivyTestImages are the docker-save tarballs of Trivy's image tests.
var trivyTestImages = []string{"alpine-310.tar.gz", "alpine-311.tar.gz", "distroless.tar.gz", "vuln-image.tar.gz", "image1.tar"}

// trivyTestdata is Trivy's own test data from the module cache: its image
// tarballs, and its integration tests' database fixtures.
func trivyTestdata(t *testing.T) fixtureSet {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aquasecurity/trivy").Output()
	if err != nil {
		t.Fatalf("locating the Trivy module (go list -m): %v", err)
	}
	root := strings.TrimSpace(string(out))
	yamls, err := filepath.Glob(filepath.Join(root, "integration", "testdata", "fixtures", "db", "*.yaml"))
	if err != nil || len(yamls) == 0 {
		t.Fatalf("no database fixtures under %s: %v", root, err)
	}
	sort.Strings(yamls)
	var advisories []string
	for _, p := range yamls {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		advisories = append(advisories, string(b))
	}
	return fixtureSet{
		name:       "Trivy's own: " + filepath.Join(root, "pkg/fanal/test/testdata") + " images, " + filepath.Join(root, "integration/testdata/fixtures/db") + " (" + strconv.Itoa(len(yamls)) + " files)",
		advisories: advisories,
		push: func(t *testing.T, reg *acctest.Registry) []acctest.FixtureImage {
			var images []acctest.FixtureImage
			for _, name := range trivyTestImages {
				img := dockerArchive(t, filepath.Join(root, "pkg", "fanal", "test", "testdata", name))
				repoTag := "trivy-testdata/" + strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".tar") + ":1"
				reg.Push(t, repoTag, img)
				images = append(images, acctest.FixtureImage{RepoTag: repoTag})
			}
			return images
		},
	}
}

// dockerArchive reads a `docker save` tarball, gzipped or not.
func dockerArchive(t *testing.T, path string) v1.Image {
	t.Helper()
	opener := func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil || !strings.HasSuffix(path, ".gz") {
			return f, err
		}
		gz, err := gzip.NewReader(f)
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{gz, f}, nil
	}
	img, err := tarball.Image(opener, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

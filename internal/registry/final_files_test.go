package registry_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

// tarLayer builds a layer from raw tar headers (content for regular files
// in contents, by name); acctest.Layer writes only files and directories.
func tarLayer(t testing.TB, contents map[string]string, hdrs ...tar.Header) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		h.ModTime, h.Mode = time.Unix(0, 0), 0o644
		body := contents[h.Name]
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func finalFiles(t *testing.T, layers ...v1.Layer) (map[string]registry.FinalFile, *acctest.Registry) {
	t.Helper()
	reg := acctest.NewRegistry(t)
	reg.Push(t, "app:1", acctest.Image(acctest.Config{}, layers...))
	c := newClient(t)
	ref, img := imageOf(t, c, reg.Ref("app:1"))
	reg.ResetRequests()
	got, err := c.FinalFiles(context.Background(), ref, img, "/etc/passwd", "etc/group")
	if err != nil {
		t.Fatal(err)
	}
	return got, reg
}

type finalWant struct {
	found    bool
	content  string
	resolved string
	layer    int
	problem  string // substring
}

func checkFinal(t *testing.T, got map[string]registry.FinalFile, want map[string]finalWant) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: no answer", p)
			continue
		}
		if g.Found != w.found || string(g.Content) != w.content || g.Resolved != w.resolved || g.Layer != w.layer ||
			(w.problem == "") != (g.Problem == "") || !strings.Contains(g.Problem, w.problem) {
			t.Errorf("%s = {found %v content %q resolved %q layer %d problem %q}, want %+v", p, g.Found, g.Content, g.Resolved, g.Layer, g.Problem, w)
		}
	}
}

func TestFinalFilesLaterLayerReplaces(t *testing.T) {
	got, _ := finalFiles(t,
		acctest.Layer(f{Path: "etc/"}, f{Path: "etc/passwd", Content: "root:x:0:0\n"}, f{Path: "etc/group", Content: "root:x:0:\n"}),
		acctest.Layer(f{Path: "etc/passwd", Content: "root:x:0:0\napp:x:1000:1000\n"}),
	)
	checkFinal(t, got, map[string]finalWant{
		"/etc/passwd": {found: true, content: "root:x:0:0\napp:x:1000:1000\n", resolved: "/etc/passwd", layer: 1},
		"etc/group":   {found: true, content: "root:x:0:\n", resolved: "/etc/group", layer: 0},
	})
	if s := got["/etc/passwd"].Source(); s != "/etc/passwd (layer 1, counting from 0)" {
		t.Errorf("Source() = %q", s)
	}
}

func TestFinalFilesWhiteoutDeletes(t *testing.T) {
	got, _ := finalFiles(t,
		acctest.Layer(f{Path: "etc/"}, f{Path: "etc/passwd", Content: "app:x:1000:1000\n"}, f{Path: "etc/group", Content: "app:x:1000:\n"}),
		acctest.Layer(f{Path: "etc/.wh.passwd"}),                            // a later layer deletes /etc/passwd
		acctest.Layer(f{Path: "etc/.wh..wh..opq"}, f{Path: "etc/hostname"}), // and empties /etc of lower content
	)
	checkFinal(t, got, map[string]finalWant{
		"/etc/passwd": {},
		"etc/group":   {},
	})
}

func TestFinalFilesReAddedAfterWhiteout(t *testing.T) {
	got, _ := finalFiles(t,
		acctest.Layer(f{Path: "etc/passwd", Content: "app:x:1000:1000\n"}),
		acctest.Layer(f{Path: "etc/.wh.passwd"}, f{Path: "etc/passwd", Content: "app:x:0:0\n"}),
	)
	checkFinal(t, got, map[string]finalWant{
		"/etc/passwd": {found: true, content: "app:x:0:0\n", resolved: "/etc/passwd", layer: 1},
	})
}

// A symlink whose target lives under another path, in a lower layer: that
// one layer is read again, and only it.
func TestFinalFilesFollowsSymlinks(t *testing.T) {
	got, reg := finalFiles(t,
		acctest.Layer(f{Path: "nix/store/abc-fake-nss/etc/passwd", Content: "app:x:0:0\n"}, f{Path: "private/etc/group", Content: "staff:x:50:\n"}),
		acctest.Layer(f{Path: "unrelated", Content: "1"}),
		symlinkLayer(t, "etc/passwd", "/nix/store/abc-fake-nss/etc/passwd", "etc/group", "../private/etc/group"),
	)
	checkFinal(t, got, map[string]finalWant{
		"/etc/passwd": {found: true, content: "app:x:0:0\n", resolved: "/nix/store/abc-fake-nss/etc/passwd", layer: 0},
		"etc/group":   {found: true, content: "staff:x:50:\n", resolved: "/private/etc/group", layer: 0},
	})
	if n := reg.CountBlobs(); n != 4 {
		t.Errorf("read %d blobs, want 4 (3 layers, then layer 0 again for both targets)", n)
	}
	if s := got["/etc/passwd"].Source(); s != "/etc/passwd → /nix/store/abc-fake-nss/etc/passwd (layer 0, counting from 0)" {
		t.Errorf("Source() = %q", s)
	}
}

func TestFinalFilesThroughSymlinkedDirectory(t *testing.T) {
	got, _ := finalFiles(t,
		acctest.Layer(f{Path: "private/etc/passwd", Content: "app:x:1000:1000\n"}),
		symlinkLayer(t, "etc", "private/etc"),
	)
	checkFinal(t, got, map[string]finalWant{
		"/etc/passwd": {found: true, content: "app:x:1000:1000\n", resolved: "/private/etc/passwd", layer: 0},
	})
}

func TestFinalFilesHardLink(t *testing.T) {
	got, _ := finalFiles(t,
		tarLayer(t, map[string]string{"etc/passwd-": "app:x:1000:1000\n"},
			tar.Header{Name: "etc/", Typeflag: tar.TypeDir},
			tar.Header{Name: "etc/passwd-", Typeflag: tar.TypeReg},
			tar.Header{Name: "etc/passwd", Typeflag: tar.TypeLink, Linkname: "etc/passwd-"},
			tar.Header{Name: "etc/group", Typeflag: tar.TypeLink, Linkname: "etc/missing"},
		),
	)
	checkFinal(t, got, map[string]finalWant{
		"/etc/passwd": {found: true, content: "app:x:1000:1000\n", resolved: "/etc/passwd", layer: 0},
		"etc/group":   {resolved: "/etc/group", problem: "hard link to /etc/missing"},
	})
}

func TestFinalFilesUnreadable(t *testing.T) {
	got, _ := finalFiles(t,
		acctest.Layer(f{Path: "etc/passwd/"}, f{Path: "etc/group", Content: strings.Repeat("g", 1<<20+1)}),
	)
	checkFinal(t, got, map[string]finalWant{
		"/etc/passwd": {resolved: "/etc/passwd", problem: "directory"},
		"etc/group":   {resolved: "/etc/group", problem: "1048577 bytes, more than the 1048576"},
	})
	got, _ = finalFiles(t, symlinkLayer(t, "etc/passwd", "/nowhere", "etc/group", "group"))
	checkFinal(t, got, map[string]finalWant{
		"/etc/passwd": {problem: "does not resolve"},
		"etc/group":   {problem: "does not resolve"}, // a loop
	})
}

func TestFinalFilesEncryptedLayerIsAnError(t *testing.T) {
	reg := acctest.NewRegistry(t)
	img, err := mutate.Append(acctest.Image(acctest.Config{}), mutate.Addendum{
		Layer:     acctest.Layer(f{Path: "etc/passwd", Content: "ciphertext"}),
		MediaType: "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
	})
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, "enc:1", img)
	c := newClient(t)
	ref, got := imageOf(t, c, reg.Ref("enc:1"))
	if _, err := c.FinalFiles(context.Background(), ref, got, "/etc/passwd"); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("err = %v, want an encrypted-layer error", err)
	}
}

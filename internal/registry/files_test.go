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

// symlinkLayer is a layer of symlinks (name -> target); acctest.Layer
// writes only files and directories.
func symlinkLayer(t testing.TB, links ...string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(links); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: links[i], Linkname: links[i+1], Typeflag: tar.TypeSymlink, Mode: 0o777, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
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

func imageOf(t testing.TB, c *registry.Client, refStr string) (registry.Reference, *registry.Image) {
	t.Helper()
	ctx := context.Background()
	ref, err := c.ParseReference(refStr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.Image(ctx, r, "")
	if err != nil {
		t.Fatal(err)
	}
	return ref, img
}

type f = acctest.File

func TestFilesPresentAppliesLayersAndWhiteouts(t *testing.T) {
	reg := acctest.NewRegistry(t)
	base := acctest.Layer(
		f{Path: "etc/"}, f{Path: "etc/secret", Content: "s"},
		f{Path: "root/"}, f{Path: "root/.ssh/"}, f{Path: "root/.ssh/id_rsa", Content: "k"},
		f{Path: "opt/app/old", Content: "1"}, // no directory entries: implied
		f{Path: "tmp/"}, f{Path: "tmp/x", Content: "1"},
		f{Path: "usr/"}, f{Path: "usr/bin/"}, f{Path: "usr/bin/busybox", Content: "b", Mode: 0o755}, f{Path: "usr/bin/bash", Content: "b", Mode: 0o755},
		f{Path: "var/log/old", Content: "1"},
	)
	links := symlinkLayer(t,
		"bin", "usr/bin", // usrmerge: /bin/* lives in /usr/bin
		"usr/bin/sh", "busybox",
		"sbin/dangling", "/nowhere",
		"lib", "/usr/bin/../lib", // ".." after a real directory
	)
	deletes := acctest.Layer(
		f{Path: "etc/.wh.secret"},
		f{Path: "opt/app/.wh..wh..opq"}, f{Path: "opt/app/new", Content: "2"},
		f{Path: "tmp/.wh.x"},
		f{Path: "root/.wh..ssh"},
	)
	readds := acctest.Layer(
		f{Path: "tmp/x", Content: "again"},
		// A whiteout hides only lower layers: var/log/new of this layer stays.
		f{Path: "var/.wh.log"}, f{Path: "var/log/new", Content: "2"},
		f{Path: "usr/lib/libc.so", Content: "c"},
	)
	reg.Push(t, "app:1", acctest.Image(acctest.Config{}, base, links, deletes, readds))
	c := newClient(t)
	ref, img := imageOf(t, c, reg.Ref("app:1"))

	want := map[string]bool{
		"/etc/secret":       false, // added, then whiteout'd in a later layer
		"/etc":              true,
		"/opt/app/old":      false, // hidden by the opaque directory
		"/opt/app/new":      true,  // added in the layer that made it opaque
		"/opt/app":          true,
		"/tmp/x":            true, // re-added after the whiteout
		"/root/.ssh":        false,
		"/root/.ssh/id_rsa": false, // its directory was whiteout'd
		"/root":             true,
		"/bin/sh":           true, // symlinked dir, then a symlink to busybox
		"bin/bash":          true, // relative form, through the /bin symlink
		"/usr/bin/sh":       true,
		"/sbin/dangling":    true, // a symlink counts, even dangling
		"/bin/zsh":          false,
		"/var/log/old":      false,
		"/var/log/new":      true,
		"/var/log":          true,
		"/usr/bin/curl":     false,
		"/lib/libc.so":      true, // absolute symlink target with ".."
		"/etc/secret/":      false,
		"/":                 true,
	}
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	got, err := c.FilesPresent(context.Background(), ref, img, paths)
	if err != nil {
		t.Fatal(err)
	}
	for p, w := range want {
		if g, ok := got[p]; !ok || g != w {
			t.Errorf("%s: present = %v (answered %v), want %v", p, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d answers for %d paths: %v", len(got), len(want), got)
	}
}

func TestFilesPresentSymlinkBinSh(t *testing.T) {
	reg := acctest.NewRegistry(t)
	reg.Push(t, "busybox:1", acctest.Image(acctest.Config{},
		acctest.Layer(f{Path: "bin/"}, f{Path: "bin/busybox", Content: "b", Mode: 0o755}),
		symlinkLayer(t, "bin/sh", "/bin/busybox"),
	))
	c := newClient(t)
	ref, img := imageOf(t, c, reg.Ref("busybox:1"))
	got, err := c.FilesPresent(context.Background(), ref, img, []string{"/bin/sh", "/bin/bash"})
	if err != nil {
		t.Fatal(err)
	}
	if !got["/bin/sh"] || got["/bin/bash"] {
		t.Fatalf("got %v, want /bin/sh present and /bin/bash absent", got)
	}
}

func TestFilesPresentFileReplacesDirectory(t *testing.T) {
	reg := acctest.NewRegistry(t)
	reg.Push(t, "app:1", acctest.Image(acctest.Config{},
		acctest.Layer(f{Path: "data/"}, f{Path: "data/cache/key", Content: "k"}),
		acctest.Layer(f{Path: "data/.wh.cache"}, f{Path: "data/cache", Content: "now a file"}),
	))
	c := newClient(t)
	ref, img := imageOf(t, c, reg.Ref("app:1"))
	got, err := c.FilesPresent(context.Background(), ref, img, []string{"/data/cache", "/data/cache/key"})
	if err != nil {
		t.Fatal(err)
	}
	if !got["/data/cache"] || got["/data/cache/key"] {
		t.Fatalf("got %v, want /data/cache present and /data/cache/key absent", got)
	}
}

func TestFilesPresentNoPathsReadsNothing(t *testing.T) {
	reg := acctest.NewRegistry(t)
	reg.Push(t, "app:1", acctest.Image(acctest.Config{}, acctest.Layer(f{Path: "a", Content: "1"})))
	c := newClient(t)
	ref, img := imageOf(t, c, reg.Ref("app:1"))
	reg.ResetRequests()
	got, err := c.FilesPresent(context.Background(), ref, img, nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
	if n := reg.CountBlobs(); n != 0 {
		t.Fatalf("no paths asked, yet %d blobs were read", n)
	}
}

func TestFilesPresentEncryptedLayerIsAnError(t *testing.T) {
	reg := acctest.NewRegistry(t)
	img := acctest.Image(acctest.Config{}, acctest.Layer(f{Path: "a", Content: "1"}))
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:     acctest.Layer(f{Path: "secret", Content: "ciphertext"}),
		MediaType: "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
	})
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, "enc:1", img)
	c := newClient(t)
	ref, got := imageOf(t, c, reg.Ref("enc:1"))
	reg.ResetRequests()
	_, err = c.FilesPresent(context.Background(), ref, got, []string{"/secret"})
	if err == nil {
		t.Fatal("an encrypted layer must be an error, never a pass")
	}
	for _, s := range []string{"layer 1", "is encrypted", "+encrypted", "cannot read encrypted layers"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if n := reg.CountBlobs(); n != 0 {
		t.Errorf("%d blobs read before refusing the encrypted image", n)
	}
}

func TestFilesPresentRegistryDownIsAnError(t *testing.T) {
	reg := acctest.NewRegistry(t)
	reg.Push(t, "app:1", acctest.Image(acctest.Config{}, acctest.Layer(f{Path: "a", Content: "1"})))
	c := newClient(t)
	ref, img := imageOf(t, c, reg.Ref("app:1"))
	reg.SetDown(true)
	_, err := c.FilesPresent(context.Background(), ref, img, []string{"/a"})
	if err == nil {
		t.Fatal("a registry that is down must be an error, never a pass")
	}
	if k := registry.KindOf(err); k != registry.KindServer {
		t.Errorf("kind = %v, want KindServer: %v", k, err)
	}
	if !strings.Contains(err.Error(), reg.Host) {
		t.Errorf("error %q does not name the registry", err)
	}
}

func TestFilesPresentHonoursContext(t *testing.T) {
	reg := acctest.NewRegistry(t)
	reg.Push(t, "app:1", acctest.Image(acctest.Config{}, acctest.Layer(f{Path: "a", Content: "1"})))
	c := newClient(t)
	ref, img := imageOf(t, c, reg.Ref("app:1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.FilesPresent(ctx, ref, img, []string{"/a"}); err == nil {
		t.Fatal("a cancelled context must stop the listing")
	}
}

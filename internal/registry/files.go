package registry

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Whiteout markers of the OCI image layer spec (from AUFS).
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// maxSymlinkHops bounds symlink resolution, as the kernel's ELOOP does.
const maxSymlinkHops = 40

// FilesPresent reports, for each of paths, whether it exists in the image's
// final filesystem: the layers applied in order, with whiteouts (".wh.<name>"
// deletes a path of a lower layer, ".wh..wh..opq" empties a directory of
// lower layers' content). Paths are absolute or relative to the root
// ("/etc/shadow" and "etc/shadow" are the same); the map is keyed by the
// paths as given. A symlink counts as present whatever it points to, and
// symlinked directories on the way are followed ("/bin/bash" exists when
// /bin -> usr/bin and /usr/bin/bash exists). A directory exists when it, or
// anything under it, does.
//
// Only tar headers are read, but every layer is downloaded and decompressed.
// Encrypted layers cannot be read, so they are an error, never a pass.
func (c *Client) FilesPresent(ctx context.Context, ref Reference, img *Image, paths []string) (map[string]bool, error) {
	out := make(map[string]bool, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	if img == nil || img.Manifest == nil {
		return nil, fmt.Errorf("listing files of %s: no image manifest", ref.Input)
	}
	for i, l := range img.Manifest.Layers {
		if mt := string(l.MediaType); strings.Contains(mt, "+encrypted") {
			return nil, &Error{Kind: KindInternal, Ref: ref.Input, Registry: ref.Registry(), Message: fmt.Sprintf(
				"Cannot check the files of %s (%s): layer %d (%s) is encrypted (%s), and imageguard cannot read encrypted layers. "+
					"Judge an unencrypted copy of the image, or remove forbidden_paths from the rules for it.", ref.Input, img.Digest, i, l.Digest, mt)}
		}
	}

	root := newFSNode()
	for i, desc := range img.Manifest.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		layer, err := remote.Layer(ref.Repository.Digest(desc.Digest.String()), append(c.RemoteOptions(), remote.WithContext(ctx))...)
		if err != nil {
			return nil, classify(ref.Input, ref.Registry(), err)
		}
		changes, err := readLayerChanges(layer.Uncompressed)
		if err != nil {
			return nil, classifyLayer(ref, img, i, desc.Digest.String(), err)
		}
		root.apply(changes)
	}
	for _, p := range paths {
		out[p] = root.exists(p)
	}
	return out, nil
}

// classifyLayer keeps the registry's own error kinds (unauthorized,
// unreachable, ...) and explains anything else as an unreadable layer.
func classifyLayer(ref Reference, img *Image, i int, digest string, err error) error {
	if c, ok := classify(ref.Input, ref.Registry(), err).(*Error); ok && c.Kind != KindInternal {
		return c
	}
	return &Error{Kind: KindServer, Ref: ref.Input, Registry: ref.Registry(), Err: err, Message: fmt.Sprintf(
		"Cannot list the files of %s (%s): reading layer %d (%s) failed: %v", ref.Input, img.Digest, i, digest, err)}
}

// layerChanges is what one layer does to the filesystem below it.
type layerChanges struct {
	// whiteouts are paths the layer deletes from lower layers.
	whiteouts []string
	// opaque are directories whose lower-layer content the layer hides.
	opaque []string
	// entries are what the layer adds, in tar order.
	entries []layerEntry
}

type layerEntry struct {
	path  string
	dir   bool
	link  string // symlink target, "" otherwise
	isSym bool
}

// readLayerChanges reads the headers of an uncompressed layer and drains
// it, so that go-containerregistry verifies the blob against its digest.
func readLayerChanges(open func() (io.ReadCloser, error)) (layerChanges, error) {
	var ch layerChanges
	rc, err := open()
	if err != nil {
		return ch, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ch, err
		}
		p := cleanLayerPath(h.Name)
		if p == "" {
			continue
		}
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == whiteoutOpaque:
			ch.opaque = append(ch.opaque, dir)
			continue
		case strings.HasPrefix(base, whiteoutMeta):
			continue // other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs)
		case strings.HasPrefix(base, whiteoutPrefix):
			ch.whiteouts = append(ch.whiteouts, path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)))
			continue
		}
		e := layerEntry{path: p, dir: h.Typeflag == tar.TypeDir}
		if h.Typeflag == tar.TypeSymlink {
			e.isSym, e.link = true, h.Linkname
		}
		ch.entries = append(ch.entries, e)
	}
	// Drain the stream: the digest check runs at its end.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return ch, err
	}
	return ch, nil
}

// cleanLayerPath turns a tar entry name into a root-relative path without
// "./" or a trailing "/"; "" for the root itself.
func cleanLayerPath(name string) string {
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}

// fsNode is one path of the merged filesystem; only names and symlink
// targets are kept.
type fsNode struct {
	children map[string]*fsNode
	isSym    bool
	link     string
}

func newFSNode() *fsNode { return &fsNode{} }

func (n *fsNode) child(name string) *fsNode {
	if n.children == nil {
		return nil
	}
	return n.children[name]
}

// apply lays a layer over the filesystem: its whiteouts and opaque
// directories hide lower content first (they never hide entries of the
// same layer), then its entries are added.
func (n *fsNode) apply(ch layerChanges) {
	for _, w := range ch.whiteouts {
		dir, base := path.Split(w)
		if parent := n.lookupExact(strings.TrimSuffix(dir, "/")); parent != nil && parent.children != nil {
			delete(parent.children, base)
		}
	}
	for _, d := range ch.opaque {
		if node := n.lookupExact(d); node != nil {
			node.children = nil
		}
	}
	for _, e := range ch.entries {
		node := n
		parts := strings.Split(e.path, "/")
		for i, part := range parts {
			next := node.child(part)
			last := i == len(parts)-1
			switch {
			case next == nil:
				next = newFSNode()
				if node.children == nil {
					node.children = map[string]*fsNode{}
				}
				node.children[part] = next
			case last && !e.dir:
				// A file or symlink replaces whatever was there, children too.
				next.children = nil
			case !last && next.isSym:
				// Tar parents are real directories; a path through a lower
				// symlink is the layer's own directory now.
				next.isSym, next.link = false, ""
			}
			if last {
				if e.dir {
					next.isSym, next.link = false, ""
				} else {
					next.isSym, next.link = e.isSym, e.link
				}
			}
			node = next
		}
	}
}

// lookupExact walks a root-relative path without following symlinks.
func (n *fsNode) lookupExact(p string) *fsNode {
	if p == "" {
		return n
	}
	node := n
	for _, part := range strings.Split(p, "/") {
		if node = node.child(part); node == nil {
			return nil
		}
	}
	return node
}

// exists resolves an asked path, following symlinks in its directories
// but not in its last component.
func (n *fsNode) exists(asked string) bool {
	p := cleanLayerPath(asked)
	if p == "" {
		return true
	}
	pending := strings.Split(p, "/")
	var resolved []string // components of the current directory
	hops := 0
	for len(pending) > 0 {
		part := pending[0]
		pending = pending[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		dir := n.lookupExact(strings.Join(resolved, "/"))
		if dir == nil {
			return false
		}
		node := dir.child(part)
		if node == nil {
			return false
		}
		if len(pending) == 0 {
			return true // the last component: a symlink counts as present
		}
		if node.isSym {
			hops++
			if hops > maxSymlinkHops {
				return false
			}
			target := strings.Split(node.link, "/")
			if strings.HasPrefix(node.link, "/") {
				resolved = nil
			}
			pending = append(target, pending...)
			continue
		}
		resolved = append(resolved, part)
	}
	return true
}

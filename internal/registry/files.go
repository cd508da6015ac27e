package registry

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
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
	for i := range img.Manifest.Layers {
		changes, err := c.layerChanges(ctx, ref, img, i, nil)
		if err != nil {
			return nil, err
		}
		root.apply(changes, i)
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
	// hardlink is a hard link's target path (root-relative), "" otherwise.
	hardlink string
	// special: a device, fifo or other entry that is not a regular file.
	special bool
	// size of a regular file; data holds its bytes when captured.
	size     int64
	data     []byte
	captured bool
}

// readLayerChanges reads the headers of an uncompressed layer and drains
// it, so that go-containerregistry verifies the blob against its digest.
// The bytes of regular files whose path capture accepts are kept, up to
// maxFinalFileSize each; capture may be nil.
func readLayerChanges(open func() (io.ReadCloser, error), capture func(path string) bool) (layerChanges, error) {
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
		switch h.Typeflag {
		case tar.TypeSymlink:
			e.isSym, e.link = true, h.Linkname
		case tar.TypeLink:
			e.hardlink = cleanLayerPath(h.Linkname)
		case tar.TypeReg, '\x00': // '\x00': the pre-POSIX regular file (tar.TypeRegA)
			e.size = h.Size
			if capture != nil && capture(p) && h.Size <= maxFinalFileSize {
				if e.data, err = io.ReadAll(tr); err != nil {
					return ch, err
				}
				e.captured = true
			}
		case tar.TypeDir:
		default:
			e.special = true
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

// fsNode is one path of the merged filesystem; only names, symlink
// targets and, for files, where their bytes live are kept. A node that is
// neither a symlink nor a file is a directory.
type fsNode struct {
	children map[string]*fsNode
	isSym    bool
	link     string
	file     *fileData
}

// fileData is a non-directory, non-symlink entry: where its bytes live
// (hard links share the target's), and the bytes when they were captured.
type fileData struct {
	layer    int
	path     string // root-relative path in that layer
	size     int64
	data     []byte
	captured bool
	special  bool
	// problem: why the entry has no bytes to read (a broken hard link).
	problem string
}

func newFSNode() *fsNode { return &fsNode{} }

func (n *fsNode) child(name string) *fsNode {
	if n.children == nil {
		return nil
	}
	return n.children[name]
}

// apply lays layer number layer over the filesystem: its whiteouts and
// opaque directories hide lower content first (they never hide entries of
// the same layer), then its entries are added.
func (n *fsNode) apply(ch layerChanges, layer int) {
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
			case !last && (next.isSym || next.file != nil):
				// Tar parents are real directories; a path through a lower
				// symlink (or file) is the layer's own directory now.
				next.isSym, next.link, next.file = false, "", nil
			}
			if last {
				if e.dir {
					next.isSym, next.link, next.file = false, "", nil
				} else {
					next.isSym, next.link, next.file = n.entryOf(e, layer)
				}
			}
			node = next
		}
	}
}

// entryOf is what a non-directory entry adds: a symlink, or a file with
// its own bytes or, for a hard link, its target's as they are at this
// point of the layer (a hard link to a symlink is that symlink, as link(2)
// makes it).
func (n *fsNode) entryOf(e layerEntry, layer int) (isSym bool, link string, file *fileData) {
	switch {
	case e.isSym:
		return true, e.link, nil
	case e.hardlink != "":
		target, _, ok := n.walk(e.hardlink, false)
		switch {
		case ok && target.isSym:
			return true, target.link, nil
		case ok && target.file != nil:
			return false, "", target.file
		}
		return false, "", &fileData{layer: layer, path: e.path, problem: "it is a hard link to /" + e.hardlink + ", which is not a file in the image"}
	}
	return false, "", &fileData{layer: layer, path: e.path, size: e.size, data: e.data, captured: e.captured, special: e.special}
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
	_, _, ok := n.walk(asked, false)
	return ok
}

// walk resolves an asked path, following symlinks in its directories, and
// in its last component when followLast, as the kernel's open does (a
// symlink's target is read relative to its directory, absolute targets
// from the image's root, never above it). It returns the node and its
// path after symlinks ("/usr/bin/busybox"); ok is false when a component
// is missing or there are more than maxSymlinkHops symlinks.
func (n *fsNode) walk(asked string, followLast bool) (node *fsNode, resolvedPath string, ok bool) {
	p := cleanLayerPath(asked)
	if p == "" {
		return n, "/", true
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
			return nil, "", false
		}
		node := dir.child(part)
		if node == nil {
			return nil, "", false
		}
		last := len(pending) == 0
		if node.isSym && (!last || followLast) {
			hops++
			if hops > maxSymlinkHops {
				return nil, "", false
			}
			target := strings.Split(node.link, "/")
			if strings.HasPrefix(node.link, "/") {
				resolved = nil
			}
			pending = append(target, pending...)
			continue
		}
		resolved = append(resolved, part)
		if last {
			// Without followLast a symlink here counts as present.
			return node, "/" + strings.Join(resolved, "/"), true
		}
	}
	// A symlink's target ended in "." or "..": the directory reached.
	node = n.lookupExact(strings.Join(resolved, "/"))
	return node, "/" + strings.Join(resolved, "/"), node != nil
}

package registry

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// maxFinalFileSize bounds what FinalFiles reads of one file: an
// /etc/passwd of thousands of users is far smaller.
const maxFinalFileSize = 1 << 20

// FinalFile is one file of an image's final filesystem, as FinalFiles
// reads it.
type FinalFile struct {
	// Path is the path as asked for.
	Path string
	// Found: the path exists and, symlinks followed, is a regular file
	// that was read.
	Found bool
	// Content is the file's bytes when Found.
	Content []byte
	// Resolved is the path the bytes were read from, after symlinks
	// ("/etc/passwd", or "/nix/store/…/etc/passwd" through a symlink).
	Resolved string
	// Layer is the index (from 0) of the layer the bytes come from, and
	// LayerDigest its digest.
	Layer       int
	LayerDigest string
	// Problem says why a path that exists gives no bytes: a directory, a
	// device, a dangling symlink or loop, a broken hard link, too large.
	Problem string
}

// Source names where the bytes came from, for messages:
// "/etc/passwd (layer 2, counting from 0)", with "→ target" when a
// symlink led elsewhere.
func (f FinalFile) Source() string {
	p := "/" + cleanLayerPath(f.Path)
	if !f.Found {
		return p
	}
	if f.Resolved != "" && f.Resolved != p {
		p += " → " + f.Resolved
	}
	return fmt.Sprintf("%s (layer %d, counting from 0)", p, f.Layer)
}

// FinalFiles reads files of the image's final filesystem: the layers
// applied in order with whiteouts, as FilesPresent does, and symlinks
// followed in every component (absolute targets from the image's root, at
// most 40), as a runtime opening the file inside the container would. A
// hard link reads as its target. Each file is read up to 1 MiB; a larger
// one, like a directory or device, comes back with a Problem. The map is
// keyed by the paths as given; a path that does not exist has Found false.
//
// Every layer is downloaded and decompressed once; a symlink or hard link
// whose bytes live under another path reads that one layer again.
// Encrypted layers cannot be read, so they are an error, never a guess.
func (c *Client) FinalFiles(ctx context.Context, ref Reference, img *Image, paths ...string) (map[string]FinalFile, error) {
	out := make(map[string]FinalFile, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	if img == nil || img.Manifest == nil {
		return nil, fmt.Errorf("reading files of %s: no image manifest", ref.Input)
	}
	for i, l := range img.Manifest.Layers {
		if mt := string(l.MediaType); strings.Contains(mt, "+encrypted") {
			return nil, &Error{Kind: KindInternal, Ref: ref.Input, Registry: ref.Registry(), Message: fmt.Sprintf(
				"Cannot read %s in %s (%s): layer %d (%s) is encrypted (%s), and imageguard cannot read encrypted layers. "+
					"Judge an unencrypted copy of the image, or give it a numeric USER, which needs no files.", strings.Join(paths, " and "), ref.Input, img.Digest, i, l.Digest, mt)}
		}
	}
	start := time.Now()
	want := map[string]bool{}
	for _, p := range paths {
		want[cleanLayerPath(p)] = true
	}
	root := newFSNode()
	for i := range img.Manifest.Layers {
		changes, err := c.layerChanges(ctx, ref, img, i, func(p string) bool { return want[p] })
		if err != nil {
			return nil, err
		}
		root.apply(changes, i)
	}

	// Bytes that live under another path (a symlink's target, a hard
	// link's original): read the one layer that holds them again.
	again := map[int]map[string][]*fileData{}
	for _, p := range paths {
		if node, _, ok := root.walk(p, true); ok && node.file != nil {
			f := node.file
			if !f.captured && !f.special && f.problem == "" && f.size <= maxFinalFileSize {
				if again[f.layer] == nil {
					again[f.layer] = map[string][]*fileData{}
				}
				again[f.layer][f.path] = append(again[f.layer][f.path], f)
			}
		}
	}
	for layer, files := range again {
		changes, err := c.layerChanges(ctx, ref, img, layer, func(p string) bool { return files[p] != nil })
		if err != nil {
			return nil, err
		}
		for _, e := range changes.entries {
			for _, f := range files[e.path] {
				if e.captured && !f.captured {
					f.data, f.captured = e.data, true
				}
			}
		}
	}

	for _, p := range paths {
		out[p] = finalFile(root, p, img)
	}
	tflog.Debug(ctx, "registry: final files read", map[string]any{
		"repository": ref.Repository.Name(), "digest": img.Digest.String(), "paths": strings.Join(paths, ","),
		"layers": len(img.Manifest.Layers), "layers_read_again": len(again), "duration": time.Since(start).String(),
	})
	return out, nil
}

// layerChanges downloads layer i and reads its changes, keeping the bytes
// of the files capture accepts.
func (c *Client) layerChanges(ctx context.Context, ref Reference, img *Image, i int, capture func(string) bool) (layerChanges, error) {
	if err := ctx.Err(); err != nil {
		return layerChanges{}, err
	}
	desc := img.Manifest.Layers[i]
	layer, err := remote.Layer(ref.Repository.Digest(desc.Digest.String()), append(c.RemoteOptions(), remote.WithContext(ctx))...)
	if err != nil {
		return layerChanges{}, classify(ref.Input, ref.Registry(), err)
	}
	changes, err := readLayerChanges(layer.Uncompressed, capture)
	if err != nil {
		return layerChanges{}, classifyLayer(ref, img, i, desc.Digest.String(), err)
	}
	return changes, nil
}

// finalFile describes one asked path of the merged filesystem.
func finalFile(root *fsNode, p string, img *Image) FinalFile {
	ff := FinalFile{Path: p}
	node, resolved, ok := root.walk(p, true)
	switch {
	case !ok:
		if root.exists(p) {
			ff.Problem = "it is a symlink that does not resolve to anything in the image (dangling, or a loop)"
		}
		return ff
	case node.file == nil:
		ff.Problem = "it is a directory"
	case node.file.problem != "":
		ff.Problem = node.file.problem
	case node.file.special:
		ff.Problem = "it is not a regular file (a device, fifo or socket)"
	case node.file.size > maxFinalFileSize:
		ff.Problem = fmt.Sprintf("it is %d bytes, more than the %d imageguard reads", node.file.size, maxFinalFileSize)
	case !node.file.captured:
		ff.Problem = "its content was not read (a bug in imageguard; please report it)"
	default:
		ff.Found, ff.Content = true, node.file.data
	}
	ff.Resolved = resolved
	if node.file != nil {
		ff.Layer = node.file.layer
		ff.LayerDigest = img.Manifest.Layers[node.file.layer].Digest.String()
	}
	return ff
}

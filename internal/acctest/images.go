package acctest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"log"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func anonymous() authn.Authenticator { return authn.Anonymous }

func basic(u, p string) authn.Authenticator {
	return authn.FromConfig(authn.AuthConfig{Username: u, Password: p})
}

func bearer(t string) authn.Authenticator {
	return authn.FromConfig(authn.AuthConfig{RegistryToken: t})
}

// File is one entry of a layer. A Path ending in "/" is a directory; a
// base name starting with ".wh." is a whiteout.
type File struct {
	Path    string
	Content string
	Mode    int64
}

// Layer builds a real gzip'd tar layer from files, in the given order.
func Layer(files ...File) v1.Layer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, f := range files {
		p := strings.TrimPrefix(f.Path, "/")
		if strings.HasSuffix(p, "/") {
			_ = tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch})
			continue
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		_ = tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(f.Content)), ModTime: epoch})
		_, _ = tw.Write([]byte(f.Content))
	}
	_ = tw.Close()
	raw := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		panic(err) // only on a programming error in the harness
	}
	return l
}

// Package is an OS or language package to install in a fixture layer.
type Package struct {
	Name    string
	Version string
	// Source is the source package (dpkg) or origin (apk); defaults to Name.
	Source string
}

// AlpineLayer is an Alpine-like root: /etc/os-release, /etc/alpine-release
// and an apk database listing the packages.
func AlpineLayer(version string, pkgs ...Package) v1.Layer {
	var db strings.Builder
	for _, p := range pkgs {
		origin := p.Source
		if origin == "" {
			origin = p.Name
		}
		fmt.Fprintf(&db, "C:Q1%s=\nP:%s\nV:%s\nA:x86_64\nS:1024\nI:4096\nT:%s fixture\nL:MIT\no:%s\n\n", strings.Repeat("A", 27), p.Name, p.Version, p.Name, origin)
	}
	return Layer(
		File{Path: "etc/"},
		File{Path: "etc/os-release", Content: fmt.Sprintf("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=%s\nPRETTY_NAME=\"Alpine Linux v%s\"\n", version, majorMinor(version))},
		File{Path: "etc/alpine-release", Content: version + "\n"},
		File{Path: "lib/"},
		File{Path: "lib/apk/"},
		File{Path: "lib/apk/db/"},
		File{Path: "lib/apk/db/installed", Content: db.String()},
	)
}

// DebianLayer is a Debian-like root: /etc/os-release, /etc/debian_version and
// a dpkg status file listing the packages.
func DebianLayer(major string, pkgs ...Package) v1.Layer {
	var status strings.Builder
	for _, p := range pkgs {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nMaintainer: fixture\nArchitecture: amd64\n", p.Name)
		if p.Source != "" && p.Source != p.Name {
			fmt.Fprintf(&status, "Source: %s\n", p.Source)
		}
		fmt.Fprintf(&status, "Version: %s\nDescription: %s fixture\n\n", p.Version, p.Name)
	}
	return Layer(
		File{Path: "etc/"},
		File{Path: "etc/os-release", Content: fmt.Sprintf("PRETTY_NAME=\"Debian GNU/Linux %s\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"%s\"\nID=debian\n", major, major)},
		File{Path: "etc/debian_version", Content: major + ".0\n"},
		File{Path: "var/"},
		File{Path: "var/lib/"},
		File{Path: "var/lib/dpkg/"},
		File{Path: "var/lib/dpkg/status", Content: status.String()},
	)
}

// NpmLayer is an installed Node.js application: a package-lock.json (v3)
// and node_modules/<name>/package.json for each package. `trivy image`
// reads the installed package.json files (it skips lock files in images).
func NpmLayer(dir string, pkgs ...Package) v1.Layer {
	return Layer(npmFiles(dir, pkgs)...)
}

// npmFiles are the files of NpmLayer.
func npmFiles(dir string, pkgs []Package) []File {
	dir = strings.Trim(dir, "/")
	var entries []string
	entries = append(entries, `    "": {"name": "app", "version": "1.0.0"}`)
	sorted := append([]Package(nil), pkgs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	files := []File{{Path: dir + "/"}, {Path: dir + "/node_modules/"}}
	for _, p := range sorted {
		entries = append(entries, fmt.Sprintf(`    "node_modules/%s": {"version": %q, "resolved": "https://registry.npmjs.org/%s/-/%s-%s.tgz"}`, p.Name, p.Version, p.Name, p.Name, p.Version))
		files = append(files,
			File{Path: dir + "/node_modules/" + p.Name + "/"},
			File{Path: dir + "/node_modules/" + p.Name + "/package.json", Content: fmt.Sprintf(`{"name": %q, "version": %q, "license": "MIT"}`+"\n", p.Name, p.Version)})
	}
	lock := "{\n  \"name\": \"app\",\n  \"version\": \"1.0.0\",\n  \"lockfileVersion\": 3,\n  \"requires\": true,\n  \"packages\": {\n" + strings.Join(entries, ",\n") + "\n  }\n}\n"
	files = append(files, File{Path: dir + "/package-lock.json", Content: lock})
	return files
}

func majorMinor(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) >= 2 {
		return parts[0] + "." + parts[1]
	}
	return v
}

// Config is the part of an image config the fixtures set.
type Config struct {
	OS           string
	Architecture string
	Variant      string
	User         string
	Labels       map[string]string
	ExposedPorts []string
	Env          []string
	Entrypoint   []string
	Cmd          []string
	Created      time.Time
	History      []v1.History
}

// Image assembles layers and a config into an OCI image.
func Image(cfg Config, layers ...v1.Layer) v1.Image {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var err error
	for i, l := range layers {
		h := v1.History{CreatedBy: fmt.Sprintf("fixture layer %d", i)}
		if i < len(cfg.History) {
			h = cfg.History[i]
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: h})
		if err != nil {
			panic(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		panic(err)
	}
	cf = cf.DeepCopy()
	cf.OS = orDefault(cfg.OS, "linux")
	cf.Architecture = orDefault(cfg.Architecture, "amd64")
	cf.Variant = cfg.Variant
	cf.Config.User = cfg.User
	cf.Config.Labels = cfg.Labels
	cf.Config.Env = cfg.Env
	cf.Config.Entrypoint = cfg.Entrypoint
	cf.Config.Cmd = cfg.Cmd
	if len(cfg.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range cfg.ExposedPorts {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	created := cfg.Created
	if created.IsZero() {
		created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	cf.Created = v1.Time{Time: created}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		panic(err)
	}
	return img
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Index assembles platform images into an OCI index, in the given order.
func Index(images ...v1.Image) v1.ImageIndex {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range images {
		cf, err := img.ConfigFile()
		if err != nil {
			panic(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				MediaType: types.OCIManifestSchema1,
				Platform:  &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
			},
		})
	}
	return idx
}

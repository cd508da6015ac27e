package acctest

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The fleet: N images that share a Debian 12 base layer (a dpkg database as
// large as a real base image's) and each add an application layer, as a
// platform team's services do. The scale benchmarks (Go benchmarks and
// bench/scale.sh) scan them against SyntheticTrivyDB, whose "debian 12"
// advisories name the base's source packages.

// DebPackage is one installed Debian binary package of the fleet's base.
type DebPackage struct {
	Name    string
	Version string
	Source  string
	// SourceVersion is the source package's version when it differs.
	SourceVersion string
	Files         []string
}

// debianCore are real Debian 12 packages (binary, source) of a base image
// with a language runtime and a few libraries: the head of the base's dpkg
// database. The rest are generated with the same shape.
var debianCore = [][2]string{
	{"adduser", "adduser"}, {"apt", "apt"}, {"base-files", "base-files"}, {"base-passwd", "base-passwd"}, {"bash", "bash"},
	{"bsdutils", "util-linux"}, {"ca-certificates", "ca-certificates"}, {"coreutils", "coreutils"}, {"curl", "curl"},
	{"dash", "dash"}, {"debconf", "debconf"}, {"debian-archive-keyring", "debian-archive-keyring"}, {"debianutils", "debianutils"},
	{"diffutils", "diffutils"}, {"dpkg", "dpkg"}, {"e2fsprogs", "e2fsprogs"}, {"findutils", "findutils"}, {"gcc-12-base", "gcc-12"},
	{"git", "git"}, {"gpgv", "gnupg2"}, {"grep", "grep"}, {"gzip", "gzip"}, {"hostname", "hostname"}, {"init-system-helpers", "init-system-helpers"},
	{"libacl1", "acl"}, {"libapt-pkg6.0", "apt"}, {"libattr1", "attr"}, {"libaudit-common", "audit"}, {"libaudit1", "audit"},
	{"libblkid1", "util-linux"}, {"libbrotli1", "brotli"}, {"libbz2-1.0", "bzip2"}, {"libc-bin", "glibc"}, {"libc6", "glibc"},
	{"libcap-ng0", "libcap-ng"}, {"libcap2", "libcap2"}, {"libcom-err2", "e2fsprogs"}, {"libcrypt1", "libxcrypt"},
	{"libcurl3-gnutls", "curl"}, {"libcurl4", "curl"}, {"libdb5.3", "db5.3"}, {"libdebconfclient0", "cdebconf"},
	{"libexpat1", "expat"}, {"libext2fs2", "e2fsprogs"}, {"libffi8", "libffi"}, {"libgcc-s1", "gcc-12"}, {"libgcrypt20", "libgcrypt20"},
	{"libgdbm6", "gdbm"}, {"libgmp10", "gmp"}, {"libgnutls30", "gnutls28"}, {"libgpg-error0", "libgpg-error"},
	{"libgssapi-krb5-2", "krb5"}, {"libhogweed6", "nettle"}, {"libidn2-0", "libidn2"}, {"libk5crypto3", "krb5"},
	{"libkeyutils1", "keyutils"}, {"libkrb5-3", "krb5"}, {"libkrb5support0", "krb5"}, {"libldap-2.5-0", "openldap"},
	{"liblz4-1", "lz4"}, {"liblzma5", "xz-utils"}, {"libmd0", "libmd"}, {"libmount1", "util-linux"}, {"libncursesw6", "ncurses"},
	{"libnettle8", "nettle"}, {"libnghttp2-14", "nghttp2"}, {"libp11-kit0", "p11-kit"}, {"libpam-modules", "pam"},
	{"libpam-modules-bin", "pam"}, {"libpam-runtime", "pam"}, {"libpam0g", "pam"}, {"libpcre2-8-0", "pcre2"},
	{"libperl5.36", "perl"}, {"libpsl5", "libpsl"}, {"libpython3.11-minimal", "python3.11"}, {"libpython3.11-stdlib", "python3.11"},
	{"libreadline8", "readline"}, {"librtmp1", "rtmpdump"}, {"libsasl2-2", "cyrus-sasl2"}, {"libsasl2-modules-db", "cyrus-sasl2"},
	{"libseccomp2", "libseccomp"}, {"libselinux1", "libselinux"}, {"libsemanage-common", "libsemanage"}, {"libsemanage2", "libsemanage"},
	{"libsepol2", "libsepol"}, {"libsmartcols1", "util-linux"}, {"libsqlite3-0", "sqlite3"}, {"libss2", "e2fsprogs"},
	{"libssh2-1", "libssh2"}, {"libssl3", "openssl"}, {"libstdc++6", "gcc-12"}, {"libsystemd0", "systemd"}, {"libtasn1-6", "libtasn1-6"},
	{"libtinfo6", "ncurses"}, {"libudev1", "systemd"}, {"libunistring2", "libunistring"}, {"libuuid1", "util-linux"},
	{"libxxhash0", "xxhash"}, {"libzstd1", "libzstd"}, {"login", "shadow"}, {"logsave", "e2fsprogs"}, {"mawk", "mawk"},
	{"mount", "util-linux"}, {"ncurses-base", "ncurses"}, {"ncurses-bin", "ncurses"}, {"openssl", "openssl"}, {"passwd", "shadow"},
	{"perl", "perl"}, {"perl-base", "perl"}, {"perl-modules-5.36", "perl"}, {"python3", "python3-defaults"}, {"python3.11", "python3.11"},
	{"python3.11-minimal", "python3.11"}, {"sed", "sed"}, {"sysvinit-utils", "sysvinit"}, {"tar", "tar"}, {"tzdata", "tzdata"},
	{"usr-is-merged", "usrmerge"}, {"util-linux", "util-linux"}, {"util-linux-extra", "util-linux"}, {"zlib1g", "zlib"},
}

// debianStems name the generated packages (lib<stem><n>, <stem>-utils, ...).
var debianStems = []string{
	"archive", "avahi", "cairo", "dbus", "fontconfig", "freetype", "gdk", "glib", "gtk", "harfbuzz", "icu", "jpeg", "jansson",
	"lcms", "ldns", "magic", "mpfr", "nss", "pango", "pixman", "png", "proc", "pulse", "rsvg", "tiff", "unwind", "webp", "xml",
	"xslt", "yaml", "event", "evdev", "gsasl", "gstreamer", "hunspell", "iptc", "kmod", "lapack", "blas", "mysql", "pq", "uv",
}

// FleetDebianPackages is the base image's dpkg database: n packages, the
// real ones of debianCore first, then generated ones two per source
// package, each with the files a real package lists in
// /var/lib/dpkg/info/<name>.list. Deterministic.
func FleetDebianPackages(n int) []DebPackage {
	rng := rand.New(rand.NewPCG(700, 12))
	version := func() string {
		v := fmt.Sprintf("%d.%d.%d-%d", rng.IntN(9), rng.IntN(30), rng.IntN(20), 1+rng.IntN(6))
		switch rng.IntN(4) {
		case 0:
			v += fmt.Sprintf("+deb12u%d", 1+rng.IntN(9))
		case 1:
			v = fmt.Sprintf("%d:%s", 1+rng.IntN(2), v)
		}
		return v
	}
	var out []DebPackage
	srcVersion := map[string]string{}
	add := func(name, source string) {
		v, ok := srcVersion[source]
		if !ok {
			v = version()
			srcVersion[source] = v
		}
		p := DebPackage{Name: name, Version: v, Source: source}
		files := 4 + rng.IntN(40)
		for i := 0; i < files; i++ {
			switch i % 4 {
			case 0:
				p.Files = append(p.Files, fmt.Sprintf("/usr/lib/x86_64-linux-gnu/%s.so.%d", name, i))
			case 1:
				p.Files = append(p.Files, fmt.Sprintf("/usr/share/doc/%s/file-%d", name, i))
			case 2:
				p.Files = append(p.Files, fmt.Sprintf("/usr/bin/%s-%d", name, i))
			default:
				p.Files = append(p.Files, fmt.Sprintf("/usr/share/%s/data-%d", source, i))
			}
		}
		out = append(out, p)
	}
	for _, c := range debianCore {
		if len(out) == n {
			return out
		}
		add(c[0], c[1])
	}
	for i := 0; len(out) < n; i++ {
		stem := debianStems[i%len(debianStems)]
		source := fmt.Sprintf("%s%d", stem, i/len(debianStems))
		add(fmt.Sprintf("lib%s%d-%d", stem, i/len(debianStems), 1+i%3), source)
		if len(out) < n {
			add(source+"-utils", source)
		}
	}
	return out
}

// DebianBaseLayer is a Debian 12 root with the packages' dpkg status, their
// info/<name>.list and .md5sums files, and the files themselves left out
// (Trivy reads the database, not the binaries).
func DebianBaseLayer(pkgs []DebPackage) v1.Layer {
	var status strings.Builder
	files := []File{
		{Path: "etc/"},
		{Path: "etc/os-release", Content: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n"},
		{Path: "etc/debian_version", Content: "12.11\n"},
		{Path: "var/"}, {Path: "var/lib/"}, {Path: "var/lib/dpkg/"}, {Path: "var/lib/dpkg/info/"},
	}
	for _, p := range pkgs {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\n", p.Name, 64+len(p.Files)*37)
		fmt.Fprintf(&status, "Maintainer: Debian Fixture Maintainers <fixture@lists.debian.org>\nArchitecture: amd64\nMulti-Arch: same\n")
		if p.Source != p.Name {
			fmt.Fprintf(&status, "Source: %s\n", p.Source)
		}
		fmt.Fprintf(&status, "Version: %s\nDepends: libc6 (>= 2.34)\nDescription: %s for the imageguard fleet fixture\n This package is part of a generated Debian base image.\n It stands for one of the ~700 packages of a real base.\n\n", p.Version, p.Name)
		var list, sums strings.Builder
		for _, f := range p.Files {
			list.WriteString(f + "\n")
			fmt.Fprintf(&sums, "%032x  %s\n", len(f)*7919, strings.TrimPrefix(f, "/"))
		}
		files = append(files,
			File{Path: "var/lib/dpkg/info/" + p.Name + ".list", Content: list.String()},
			File{Path: "var/lib/dpkg/info/" + p.Name + ".md5sums", Content: sums.String()})
	}
	files = append(files, File{Path: "var/lib/dpkg/status", Content: status.String()})
	return Layer(files...)
}

// FleetNpmPackages are the npm packages of every fleet app: a few with
// advisories in SyntheticTrivyDB (lodash, minimist) and the usual rest.
func FleetNpmPackages(i int) []Package {
	return []Package{
		{Name: "lodash", Version: "4.17.20"},
		{Name: "minimist", Version: "1.2.5"},
		{Name: "express", Version: "4.21.2"},
		{Name: "body-parser", Version: "1.20.3"},
		{Name: "debug", Version: "2.6.9"},
		{Name: "qs", Version: "6.13.0"},
		{Name: "semver", Version: fmt.Sprintf("7.6.%d", i%4)},
		{Name: "ms", Version: "2.0.0"},
	}
}

// FleetAppLayer is app i's own layer: a slice of the Go source tree of the
// toolchain running this (text files the secret scanner reads in full; app
// i takes the i-th window of about sourceBytes, so every layer differs) and
// an installed npm application. The same toolchain gives the same layers.
func FleetAppLayer(tb interface{ Fatalf(string, ...any) }, i, sourceBytes int) v1.Layer {
	srcs := goSourceFiles(tb)
	files := []File{{Path: "app/"}, {Path: "app/id", Content: fmt.Sprintf("app-%03d\n", i)}}
	start := (i * 37) % len(srcs)
	dirs := map[string]bool{}
	total := 0
	for k := 0; total < sourceBytes && k < len(srcs); k++ {
		f := srcs[(start+k)%len(srcs)]
		total += len(f.Content)
		// Parent directories first, as tar writers do.
		var parents []string
		for d := filepath.Dir(f.Path); d != "." && d != "/" && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		for j := len(parents) - 1; j >= 0; j-- {
			files = append(files, File{Path: "app/src/" + parents[j] + "/"})
		}
		files = append(files, File{Path: "app/src/" + f.Path, Content: f.Content})
	}
	files = append(files, npmFiles("app", FleetNpmPackages(i))...)
	return Layer(files...)
}

var goSources struct {
	once  sync.Once
	files []File
	err   error
}

// goSourceFiles are the .go files of $GOROOT/src (without testdata), in
// path order, read once per process.
func goSourceFiles(tb interface{ Fatalf(string, ...any) }) []File {
	goSources.once.Do(func() {
		root := filepath.Join(runtime.GOROOT(), "src")
		goSources.err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			goSources.files = append(goSources.files, File{Path: filepath.ToSlash(rel), Content: string(b)})
			return nil
		})
		sort.Slice(goSources.files, func(a, b int) bool { return goSources.files[a].Path < goSources.files[b].Path })
		if goSources.err == nil && len(goSources.files) == 0 {
			goSources.err = fmt.Errorf("no Go sources under %s", root)
		}
	})
	if goSources.err != nil {
		tb.Fatalf("reading the Go source tree for the fleet's app layers: %v", goSources.err)
	}
	return goSources.files
}

// FleetImage is fleet app i: the shared Debian base and its own app layer.
func FleetImage(base v1.Layer, app v1.Layer) v1.Image {
	return Image(Config{User: "1000", Cmd: []string{"/app/server"}}, base, app)
}

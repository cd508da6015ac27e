package acctest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	fixtures "github.com/aquasecurity/bolt-fixtures"
	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types and annotations of the Trivy DB OCI artifact. trivy-db's
// publisher runs
//
//	oras push --artifact-type application/vnd.aquasec.trivy.config.v1+json \
//	  ghcr.io/aquasecurity/trivy-db:2 db.tar.gz:application/vnd.aquasec.trivy.db.layer.v1.tar+gzip
//
// with oras 1.2, which writes an OCI 1.1 image manifest whose artifactType
// is the Trivy config type, whose config is the OCI empty descriptor ("{}")
// and whose single layer carries the file name as its title annotation.
// Trivy (pkg/db, pkg/oci) checks only the layer: exactly one, with the DB
// layer media type (and the title annotation when it stores the file).
const (
	TrivyDBLayerMediaType   = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	TrivyArtifactType       = "application/vnd.aquasec.trivy.config.v1+json"
	OCIEmptyConfigMediaType = "application/vnd.oci.empty.v1+json"
	TitleAnnotation         = "org.opencontainers.image.title"
	TrivyDBFileName         = "db.tar.gz"
)

// DBMeta is the metadata.json of a fixture database.
type DBMeta struct {
	// Version is the schema version; 0 means trivy-db's current one (2).
	Version    int
	UpdatedAt  time.Time
	NextUpdate time.Time
}

// FreshDBMeta is metadata for a database built an hour ago with its next
// update due in a day, relative to now.
func FreshDBMeta(now time.Time) DBMeta {
	return DBMeta{UpdatedAt: now.Add(-time.Hour).UTC(), NextUpdate: now.Add(23 * time.Hour).UTC()}
}

// FixtureAdvisories is a Trivy DB fixture in bolt-fixtures YAML with the
// layout trivy-db writes:
//
//   - OS advisories: bucket "<os> <release>" -> source package (Alpine
//     origin, Debian source package) -> vulnerability ID -> advisory
//     ({FixedVersion} or, unfixed, {Status} with Status an integer of
//     trivy-db's types.Status: 2 affected, 5 will_not_fix, ...).
//   - Language advisories: bucket "<ecosystem>::<data source name>" ->
//     package -> vulnerability ID -> {PatchedVersions, VulnerableVersions}.
//   - "vulnerability": ID -> {Title, Severity, VendorSeverity, CVSS, ...};
//     severities in VendorSeverity are integers (1 LOW ... 4 CRITICAL) and
//     Trivy picks the data source's own first (debian, ghsa), then nvd.
//   - "data-source": advisory bucket name -> {ID, Name, URL}.
//
// Contents:
//
//	alpine 3.23  musl     CVE-2025-26519  fixed 1.2.5-r1     HIGH
//	alpine 3.23  busybox  CVE-2024-58251  fixed 1.36.1-r30   MEDIUM
//	alpine 3.23  openssl  CVE-2024-13176  fixed 3.3.3-r0     MEDIUM  (libcrypto3, libssl3 have origin openssl)
//	debian 12    glibc    CVE-2025-4802   fixed 2.36-9+deb12u11  HIGH
//	debian 12    zlib     CVE-2023-45853  no fix (affected)  CRITICAL
//	npm          lodash   CVE-2021-23337  < 4.17.21, patched 4.17.21  HIGH
//	npm          minimist CVE-2021-44906  < 1.2.6, patched 1.2.6      CRITICAL
const FixtureAdvisories = `- bucket: alpine 3.23
  pairs:
    - bucket: musl
      pairs:
        - key: CVE-2025-26519
          value:
            FixedVersion: "1.2.5-r1"
    - bucket: busybox
      pairs:
        - key: CVE-2024-58251
          value:
            FixedVersion: "1.36.1-r30"
    - bucket: openssl
      pairs:
        - key: CVE-2024-13176
          value:
            FixedVersion: "3.3.3-r0"
- bucket: debian 12
  pairs:
    - bucket: glibc
      pairs:
        - key: CVE-2025-4802
          value:
            FixedVersion: "2.36-9+deb12u11"
    - bucket: zlib
      pairs:
        - key: CVE-2023-45853
          value:
            Status: 2
- bucket: "npm::GitHub Security Advisory npm"
  pairs:
    - bucket: lodash
      pairs:
        - key: CVE-2021-23337
          value:
            PatchedVersions:
              - "4.17.21"
            VulnerableVersions:
              - "< 4.17.21"
    - bucket: minimist
      pairs:
        - key: CVE-2021-44906
          value:
            PatchedVersions:
              - "1.2.6"
            VulnerableVersions:
              - "< 1.2.6"
- bucket: vulnerability
  pairs:
    - key: CVE-2025-26519
      value:
        Title: "musl: iconv EUC-KR decoder out-of-bounds write"
        Description: "musl libc 0.9.13 through 1.2.5 has an out-of-bounds write bug in iconv when converting from EUC-KR."
        Severity: HIGH
        VendorSeverity:
          nvd: 3
        CVSS:
          nvd:
            V3Vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"
            V3Score: 8.1
        References:
          - "https://www.openwall.com/lists/musl/2025/02/13/1"
    - key: CVE-2024-58251
      value:
        Title: "busybox: netstat escape sequences in the local socket name"
        Description: "In netstat in BusyBox through 1.37.0, local users can launch a network application with an argument that misleads the terminal."
        Severity: MEDIUM
        VendorSeverity:
          nvd: 2
        CVSS:
          nvd:
            V3Vector: "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:L"
            V3Score: 5.5
    - key: CVE-2024-13176
      value:
        Title: "openssl: timing side-channel in ECDSA signature computation"
        Description: "A timing side-channel which could potentially allow recovering the private key exists in the ECDSA signature computation."
        Severity: MEDIUM
        VendorSeverity:
          nvd: 2
        CVSS:
          nvd:
            V3Vector: "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N"
            V3Score: 4.7
    - key: CVE-2025-4802
      value:
        Title: "glibc: static setuid binary dlopen may incorrectly search LD_LIBRARY_PATH"
        Description: "Untrusted LD_LIBRARY_PATH environment variable vulnerability in the GNU C Library version 2.27 to 2.38."
        Severity: HIGH
        VendorSeverity:
          debian: 3
          nvd: 3
        CVSS:
          nvd:
            V3Vector: "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"
            V3Score: 7.8
    - key: CVE-2023-45853
      value:
        Title: "zlib: integer overflow and resultant heap-based buffer overflow in zipOpenNewFileInZip4_64"
        Description: "MiniZip in zlib through 1.3 has an integer overflow and resultant heap-based buffer overflow in zipOpenNewFileInZip4_64."
        Severity: CRITICAL
        VendorSeverity:
          nvd: 4
        CVSS:
          nvd:
            V3Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
            V3Score: 9.8
    - key: CVE-2021-23337
      value:
        Title: "nodejs-lodash: command injection via template"
        Description: "Lodash versions prior to 4.17.21 are vulnerable to Command Injection via the template function."
        Severity: HIGH
        VendorSeverity:
          ghsa: 3
          nvd: 3
        CVSS:
          nvd:
            V3Vector: "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"
            V3Score: 7.2
    - key: CVE-2021-44906
      value:
        Title: "minimist: prototype pollution"
        Description: "Minimist <=1.2.5 is vulnerable to Prototype Pollution via file index.js, function setKey()."
        Severity: CRITICAL
        VendorSeverity:
          ghsa: 4
          nvd: 4
        CVSS:
          nvd:
            V3Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
            V3Score: 9.8
- bucket: data-source
  pairs:
    - key: alpine 3.23
      value:
        ID: "alpine"
        Name: "Alpine Secdb"
        URL: "https://secdb.alpinelinux.org/"
    - key: debian 12
      value:
        ID: "debian"
        Name: "Debian Security Tracker"
        URL: "https://salsa.debian.org/security-tracker-team/security-tracker"
    - key: "npm::GitHub Security Advisory npm"
      value:
        ID: "ghsa"
        Name: "GitHub Security Advisory npm"
        URL: "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Anpm"
`

// FixtureNewAdvisory adds one advisory to FixtureAdvisories, to simulate a
// newly published CVE: alpine 3.23 musl CVE-2026-0001, fixed in 1.2.5-r2,
// CRITICAL. Use it as BuildTrivyDB(tb, dir, []string{FixtureAdvisories,
// FixtureNewAdvisory}, meta).
const FixtureNewAdvisory = `- bucket: alpine 3.23
  pairs:
    - bucket: musl
      pairs:
        - key: CVE-2026-0001
          value:
            FixedVersion: "1.2.5-r2"
- bucket: vulnerability
  pairs:
    - key: CVE-2026-0001
      value:
        Title: "musl: fixture advisory published after the first database"
        Description: "A fixture vulnerability that exists only in the newer database."
        Severity: CRITICAL
        VendorSeverity:
          nvd: 4
        CVSS:
          nvd:
            V3Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
            V3Score: 9.8
`

// BuildTrivyDB writes dir/trivy.db, loaded from the YAML fixtures in order
// (later fixtures add to earlier buckets), and dir/metadata.json, as trivy-db
// builds them. DownloadedAt stays zero, as in a published archive.
func BuildTrivyDB(tb testing.TB, dir string, fixtureYAML []string, meta DBMeta) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	src := tb.TempDir()
	var files []string
	for i, y := range fixtureYAML {
		p := filepath.Join(src, "fixture-"+strconv.Itoa(i)+".yaml")
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			tb.Fatal(err)
		}
		files = append(files, p)
	}
	loader, err := fixtures.New(trivydb.Path(dir), files)
	if err != nil {
		tb.Fatalf("create fixture db: %v", err)
	}
	if err := loader.Load(); err != nil {
		_ = loader.Close()
		tb.Fatalf("load fixture db: %v", err)
	}
	if err := loader.Close(); err != nil {
		tb.Fatal(err)
	}
	version := meta.Version
	if version == 0 {
		version = trivydb.SchemaVersion
	}
	err = metadata.NewClient(dir).Update(metadata.Metadata{
		Version:    version,
		UpdatedAt:  meta.UpdatedAt.UTC(),
		NextUpdate: meta.NextUpdate.UTC(),
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// TrivyDBArchive builds a database with BuildTrivyDB and returns it as
// trivy-db publishes it: db.tar.gz holding trivy.db and metadata.json at the
// top level (`tar czf db.tar.gz -C assets trivy.db metadata.json`).
func TrivyDBArchive(tb testing.TB, fixtureYAML []string, meta DBMeta) []byte {
	tb.Helper()
	dir := tb.TempDir()
	BuildTrivyDB(tb, dir, fixtureYAML, meta)
	return TrivyDBArchiveOf(tb, dir)
}

// TrivyDBArchiveOf archives the database in dir (trivy.db and
// metadata.json) as trivy-db publishes it.
func TrivyDBArchiveOf(tb testing.TB, dir string) []byte {
	tb.Helper()
	var entries []ArchiveEntry
	for _, n := range []string{"trivy.db", "metadata.json"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			tb.Fatal(err)
		}
		entries = append(entries, ArchiveEntry{Name: n, Content: b})
	}
	return TarGz(tb, entries...)
}

// ArchiveEntry is one file of a tar.gz built by TarGz. Typeflag 0 means a
// regular file; Linkname is for symbolic and hard links.
type ArchiveEntry struct {
	Name     string
	Content  []byte
	Typeflag byte
	Linkname string
}

// TarGz builds a gzip'd tar, e.g. to make malformed database archives.
func TarGz(tb testing.TB, entries ...ArchiveEntry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	epoch := time.Unix(0, 0)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: 0o644, Size: int64(len(e.Content)), ModTime: epoch, Typeflag: e.Typeflag, Linkname: e.Linkname}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(e.Content); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// PushTrivyDB publishes a database archive under repo:tag exactly as
// trivy-db does (see TrivyDBLayerMediaType) and returns the manifest digest.
func (r *Registry) PushTrivyDB(tb testing.TB, repoTag string, archive []byte) v1.Hash {
	tb.Helper()
	return r.PushArtifact(tb, repoTag, TrivyArtifactType, TrivyDBFileName, TrivyDBLayerMediaType, archive)
}

// PushArtifact publishes a single-layer OCI 1.1 artifact the way
// `oras push --artifact-type <artifactType> <ref> <fileName>:<layerMediaType>`
// does: empty config, one layer titled fileName. Tests use it for artifacts
// with the wrong media type. Pushing does not count as requests the code
// under test made.
func (r *Registry) PushArtifact(tb testing.TB, repoTag, artifactType, fileName, layerMediaType string, content []byte) v1.Hash {
	tb.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag), name.WeakValidation)
	if err != nil {
		tb.Fatalf("parse %s: %v", repoTag, err)
	}
	layer := static.NewLayer(content, types.MediaType(layerMediaType))
	config := static.NewLayer([]byte("{}"), types.MediaType(OCIEmptyConfigMediaType))
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(ref.Context(), l, r.auth()); err != nil {
			tb.Fatalf("push blob to %s: %v", ref, err)
		}
	}
	layerDigest, _ := layer.Digest()
	configDigest, _ := config.Digest()
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config: v1.Descriptor{
			MediaType: OCIEmptyConfigMediaType,
			Size:      2,
			Digest:    configDigest,
			Data:      []byte("{}"),
		},
		Layers: []v1.Descriptor{{
			MediaType:   types.MediaType(layerMediaType),
			Size:        int64(len(content)),
			Digest:      layerDigest,
			Annotations: map[string]string{TitleAnnotation: fileName},
		}},
		Annotations: map[string]string{"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Put(ref, rawManifest{raw: raw, mediaType: types.OCIManifestSchema1}, r.auth()); err != nil {
		tb.Fatalf("push manifest %s: %v", ref, err)
	}
	d, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	r.ResetRequests()
	return d
}

type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

package acctest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"sort"
	"testing"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	bolt "go.etcd.io/bbolt"
)

func TestBuildTrivyDB(t *testing.T) {
	dir := t.TempDir()
	updated := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	BuildTrivyDB(t, dir, []string{FixtureAdvisories, FixtureNewAdvisory}, DBMeta{UpdatedAt: updated, NextUpdate: updated.Add(24 * time.Hour)})

	meta, err := metadata.NewClient(dir).Get()
	if err != nil {
		t.Fatal(err)
	}
	if meta.Version != trivydb.SchemaVersion || !meta.UpdatedAt.Equal(updated) || !meta.NextUpdate.Equal(updated.Add(24*time.Hour)) || !meta.DownloadedAt.IsZero() {
		t.Errorf("metadata = %+v", meta)
	}

	if err := trivydb.Init(dir, trivydb.WithBoltOptions(&bolt.Options{ReadOnly: true, Timeout: time.Second})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = trivydb.Close() })
	dbc := trivydb.Config{}

	cases := []struct {
		source, pkg string
		want        map[string]dbtypes.Advisory
	}{
		{"alpine 3.23", "musl", map[string]dbtypes.Advisory{
			"CVE-2025-26519": {FixedVersion: "1.2.5-r1"},
			"CVE-2026-0001":  {FixedVersion: "1.2.5-r2"},
		}},
		{"alpine 3.23", "busybox", map[string]dbtypes.Advisory{"CVE-2024-58251": {FixedVersion: "1.36.1-r30"}}},
		{"alpine 3.23", "openssl", map[string]dbtypes.Advisory{"CVE-2024-13176": {FixedVersion: "3.3.3-r0"}}},
		{"debian 12", "glibc", map[string]dbtypes.Advisory{"CVE-2025-4802": {FixedVersion: "2.36-9+deb12u11"}}},
		{"debian 12", "zlib", map[string]dbtypes.Advisory{"CVE-2023-45853": {Status: dbtypes.StatusAffected}}},
		// Trivy's library detector asks with the "npm::" prefix.
		{"npm::", "lodash", map[string]dbtypes.Advisory{"CVE-2021-23337": {PatchedVersions: []string{"4.17.21"}, VulnerableVersions: []string{"< 4.17.21"}}}},
		{"npm::", "minimist", map[string]dbtypes.Advisory{"CVE-2021-44906": {PatchedVersions: []string{"1.2.6"}, VulnerableVersions: []string{"< 1.2.6"}}}},
	}
	for _, c := range cases {
		advs, err := dbc.GetAdvisories(c.source, c.pkg)
		if err != nil {
			t.Fatalf("%s %s: %v", c.source, c.pkg, err)
		}
		if len(advs) != len(c.want) {
			t.Errorf("%s %s: got %d advisories %+v, want %d", c.source, c.pkg, len(advs), advs, len(c.want))
		}
		for _, a := range advs {
			w, ok := c.want[a.VulnerabilityID]
			if !ok {
				t.Errorf("%s %s: unexpected %s", c.source, c.pkg, a.VulnerabilityID)
				continue
			}
			if a.FixedVersion != w.FixedVersion || a.Status != w.Status ||
				!equal(a.PatchedVersions, w.PatchedVersions) || !equal(a.VulnerableVersions, w.VulnerableVersions) {
				t.Errorf("%s %s %s = %+v, want %+v", c.source, c.pkg, a.VulnerabilityID, a, w)
			}
			if a.DataSource == nil || a.DataSource.ID == "" {
				t.Errorf("%s %s %s has no data source", c.source, c.pkg, a.VulnerabilityID)
			}
		}
	}

	sev := map[string]string{
		"CVE-2025-26519": "HIGH", "CVE-2024-58251": "MEDIUM", "CVE-2024-13176": "MEDIUM",
		"CVE-2025-4802": "HIGH", "CVE-2023-45853": "CRITICAL",
		"CVE-2021-23337": "HIGH", "CVE-2021-44906": "CRITICAL", "CVE-2026-0001": "CRITICAL",
	}
	for id, want := range sev {
		v, err := dbc.GetVulnerability(id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if v.Title == "" || v.Severity != want || v.VendorSeverity["nvd"].String() != want {
			t.Errorf("%s = title %q severity %q nvd %v, want %s", id, v.Title, v.Severity, v.VendorSeverity["nvd"], want)
		}
	}
}

func TestBuildTrivyDBWithoutNewAdvisory(t *testing.T) {
	dir := t.TempDir()
	BuildTrivyDB(t, dir, []string{FixtureAdvisories}, FreshDBMeta(time.Now()))
	db, err := bolt.Open(trivydb.Path(dir), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("alpine 3.23")).Bucket([]byte("musl")).Get([]byte("CVE-2026-0001")); v != nil {
			t.Errorf("CVE-2026-0001 is in the base fixture")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPushTrivyDB(t *testing.T) {
	reg := NewRegistry(t)
	archive := TrivyDBArchive(t, []string{FixtureAdvisories}, DBMeta{Version: 2, UpdatedAt: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour)})
	d := reg.PushTrivyDB(t, "aquasec/trivy-db:2", archive)

	ref, err := name.ParseReference(reg.Ref("aquasec/trivy-db:2"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := img.Digest()
	if got != d {
		t.Errorf("digest = %s, want %s", got, d)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.ArtifactType != "application/vnd.aquasec.trivy.config.v1+json" {
		t.Errorf("manifest media type %s, artifact type %s", m.MediaType, m.ArtifactType)
	}
	if m.Config.MediaType != "application/vnd.oci.empty.v1+json" || m.Config.Size != 2 {
		t.Errorf("config = %+v", m.Config)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("layers = %d", len(m.Layers))
	}
	if m.Layers[0].MediaType != "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip" || m.Layers[0].Annotations["org.opencontainers.image.title"] != "db.tar.gz" {
		t.Errorf("layer = %+v", m.Layers[0])
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil || string(rawCfg) != "{}" {
		t.Errorf("config blob = %q, %v", rawCfg, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil || !bytes.Equal(body, archive) {
		t.Fatalf("layer body differs from the archive (%v)", err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	sort.Strings(names)
	if !equal(names, []string{"metadata.json", "trivy.db"}) {
		t.Errorf("archive entries = %v", names)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

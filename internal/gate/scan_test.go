package gate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// scanEnv is the in-process registry with the fixture database and images,
// a registry client and a local scanner: the scan gate without terraform.
type scanEnv struct {
	reg     *acctest.Registry
	client  *registry.Client
	scanner *scan.Scanner
}

func newScanEnv(t *testing.T) *scanEnv {
	t.Helper()
	reg := acctest.NewRegistry(t)
	reg.PushTrivyDB(t, "aquasecurity/trivy-db:2", acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(time.Now())))
	acctest.PushScanFixtures(t, reg, 0)
	client, err := registry.New(registry.Options{Keychain: authn.NewMultiKeychain()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	manager := vulndb.NewManager(vulndb.Options{Repositories: []string{reg.Ref("aquasecurity/trivy-db:2")}, CacheDir: dir, RemoteOptions: client.RemoteOptions()})
	return &scanEnv{reg: reg, client: client, scanner: scan.New(client, scan.NewLocal(manager, dir), dir)}
}

func (e *scanEnv) resolve(t *testing.T, repoTag string) *registry.Resolved {
	t.Helper()
	ref, err := e.client.ParseReference(e.reg.Ref(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.client.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestScan(t *testing.T) {
	e := newScanEnv(t)
	multi := e.resolve(t, "multi/app:1") // amd64 fixed, arm64 vulnerable
	rules := policy.ScanRules{Threshold: policy.SeverityHigh}
	now := time.Now()

	t.Run("every platform of an index is judged; a vulnerable arm64 fails it", func(t *testing.T) {
		out, err := gate.Scan(context.Background(), e.client, e.scanner, multi, gate.ScanSettings{Rules: rules}, now)
		if err != nil {
			t.Fatal(err)
		}
		if out.Passed() || len(out.Results) != 2 {
			t.Fatalf("passed=%v with %d platforms judged, want a failure over 2", out.Passed(), len(out.Results))
		}
		for _, v := range out.Decision.Violations {
			if v.Platform != "linux/arm64" {
				t.Errorf("violation on %s, want only linux/arm64: %+v", v.Platform, v)
			}
		}
		if pinned, err := gate.PinnedFor(multi, out.JudgedDigests()); err != nil || pinned != multi.Pinned() {
			t.Errorf("PinnedFor = %q, %v; want the index", pinned, err)
		}
	})
	t.Run("one platform judged passes and pins that platform's manifest", func(t *testing.T) {
		out, err := gate.Scan(context.Background(), e.client, e.scanner, multi, gate.ScanSettings{Rules: rules, Platforms: []string{"linux/amd64"}}, now)
		if err != nil {
			t.Fatal(err)
		}
		if !out.Passed() || len(out.Results) != 1 {
			t.Fatalf("passed=%v over %d platforms", out.Passed(), len(out.Results))
		}
		pinned, err := gate.PinnedFor(multi, out.JudgedDigests())
		if err != nil || pinned == multi.Pinned() || !strings.HasSuffix(pinned.String(), "@"+out.Results[0].Digest) {
			t.Errorf("PinnedFor = %q, %v; want the amd64 manifest %s", pinned, err, out.Results[0].Digest)
		}
	})
	t.Run("a platform the index lacks is an error on platforms", func(t *testing.T) {
		_, err := gate.Scan(context.Background(), e.client, e.scanner, multi, gate.ScanSettings{Rules: rules, Platforms: []string{"linux/s390x"}}, now)
		var ge *gate.Error
		if !errors.As(err, &ge) || ge.Attr != "platforms" {
			t.Fatalf("err = %v, want a gate error on platforms", err)
		}
	})
	t.Run("an invalid VEX document is an error on vex, not a pass", func(t *testing.T) {
		_, err := gate.Scan(context.Background(), e.client, e.scanner, e.resolve(t, "alpine/vulnerable:1"), gate.ScanSettings{Rules: rules, VEX: []string{"{not json"}}, now)
		var ge *gate.Error
		if !errors.As(err, &ge) || ge.Attr != "vex" {
			t.Fatalf("err = %v, want a gate error on vex", err)
		}
	})
	t.Run("an image with nothing to scan passes with a warning", func(t *testing.T) {
		out, err := gate.Scan(context.Background(), e.client, e.scanner, e.resolve(t, "distroless/app:1"), gate.ScanSettings{Rules: rules}, now)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, w := range out.Warnings {
			found = found || w.Summary == "Nothing scannable"
		}
		if !found {
			t.Errorf("warnings %+v lack \"Nothing scannable\"", out.Warnings)
		}
	})
}

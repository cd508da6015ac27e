package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fakeIndexSource serves index shapes that a content-addressed registry
// cannot hold (a cycle) and counts what the walk asks for.
type fakeIndexSource struct {
	indexes   map[v1.Hash]*v1.IndexManifest
	platforms map[v1.Hash]*v1.Platform
	fetched   map[v1.Hash]int
}

func (f *fakeIndexSource) nestedIndex(_ context.Context, d v1.Hash) (*v1.IndexManifest, error) {
	f.fetched[d]++
	if idx, ok := f.indexes[d]; ok {
		return idx, nil
	}
	return nil, fmt.Errorf("no index %s", d)
}

func (f *fakeIndexSource) configPlatform(_ context.Context, d v1.Hash) (*v1.Platform, error) {
	f.fetched[d]++
	if p, ok := f.platforms[d]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("no config for %s", d)
}

func fakeHash(s string) v1.Hash {
	sum := sha256.Sum256([]byte(s))
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

func indexOf(children ...v1.Descriptor) *v1.IndexManifest {
	return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: children}
}

func indexEntry(d v1.Hash) v1.Descriptor {
	return v1.Descriptor{MediaType: types.OCIImageIndex, Digest: d}
}

func imageEntry(d v1.Hash, p *v1.Platform) v1.Descriptor {
	return v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: d, Platform: p}
}

func testWalk(t *testing.T, src *fakeIndexSource, root v1.Hash) ([]PlatformManifest, error) {
	t.Helper()
	ref := Reference{Input: "registry.example.com/team/app:1", Repository: name.MustParseReference("registry.example.com/team/app:1").Context(), Tag: "1"}
	w := newIndexWalk(src, ref, root)
	if err := w.walk(context.Background(), root, src.indexes[root], 0); err != nil {
		return nil, err
	}
	pms, _ := w.result()
	return pms, nil
}

func TestIndexWalkCycleIsAnError(t *testing.T) {
	root, a := fakeHash("root"), fakeHash("a")
	src := &fakeIndexSource{
		indexes: map[v1.Hash]*v1.IndexManifest{
			root: indexOf(imageEntry(fakeHash("amd"), &v1.Platform{OS: "linux", Architecture: "amd64"}), indexEntry(a)),
			a:    indexOf(indexEntry(root)),
		},
		fetched: map[v1.Hash]int{},
	}
	_, err := testWalk(t, src, root)
	if KindOf(err) != KindServer || !strings.Contains(err.Error(), "contains itself") || !strings.Contains(err.Error(), a.String()) {
		t.Fatalf("want a cycle error naming the nested index, got %v", err)
	}
}

func TestIndexWalkDiamondWalkedOnce(t *testing.T) {
	root, a, b, shared := fakeHash("root"), fakeHash("a"), fakeHash("b"), fakeHash("shared")
	img, noPlatform := fakeHash("img"), fakeHash("platformless")
	src := &fakeIndexSource{
		indexes: map[v1.Hash]*v1.IndexManifest{
			root:   indexOf(indexEntry(a), indexEntry(b)),
			a:      indexOf(indexEntry(shared)),
			b:      indexOf(indexEntry(shared)),
			shared: indexOf(imageEntry(img, &v1.Platform{OS: "linux", Architecture: "amd64"}), imageEntry(noPlatform, nil)),
		},
		platforms: map[v1.Hash]*v1.Platform{noPlatform: {OS: "linux", Architecture: "riscv64"}},
		fetched:   map[v1.Hash]int{},
	}
	pms, err := testWalk(t, src, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(pms) != 2 || pms[0].Platform != "linux/amd64" || pms[1].Platform != "linux/riscv64" || pms[1].Index != shared {
		t.Fatalf("got %+v", pms)
	}
	if src.fetched[shared] != 1 || src.fetched[noPlatform] != 1 {
		t.Fatalf("the shared index was fetched %d times and the platformless config %d times, want 1 each", src.fetched[shared], src.fetched[noPlatform])
	}
}

func TestIndexWalkFanOutIsBounded(t *testing.T) {
	root := fakeHash("root")
	var children []v1.Descriptor
	for i := 0; i <= maxIndexEntries; i++ {
		children = append(children, imageEntry(fakeHash(fmt.Sprint(i)), &v1.Platform{OS: "linux", Architecture: "amd64"}))
	}
	src := &fakeIndexSource{indexes: map[v1.Hash]*v1.IndexManifest{root: indexOf(children...)}, fetched: map[v1.Hash]int{}}
	_, err := testWalk(t, src, root)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d manifests", maxIndexEntries)) {
		t.Fatalf("got %v", err)
	}
	src.indexes[root] = indexOf(children[:maxIndexEntries]...)
	if pms, err := testWalk(t, src, root); err != nil || len(pms) != maxIndexEntries {
		t.Fatalf("exactly %d entries: %d platforms, %v", maxIndexEntries, len(pms), err)
	}
}

func TestIsAttestation(t *testing.T) {
	cases := []struct {
		name string
		d    v1.Descriptor
		want bool
	}{
		{"BuildKit: unknown/unknown and annotated", v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}, Annotations: map[string]string{annotationReferenceType: attestationManifest}}, true},
		{"annotation only, no platform: a claim, judged by its config", v1.Descriptor{Annotations: map[string]string{annotationReferenceType: attestationManifest}}, false},
		{"annotation on a runnable platform is an image", v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}, Annotations: map[string]string{annotationReferenceType: attestationManifest}}, false},
		{"unknown/unknown only", v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}, true},
		{"unknown os on a real arch is an image", v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "amd64"}}, false},
		{"other reference type is an image", v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}, Annotations: map[string]string{annotationReferenceType: "something-else"}}, false},
		{"no platform is an image", v1.Descriptor{}, false},
	}
	for _, tc := range cases {
		if got := isAttestation(tc.d); got != tc.want {
			t.Errorf("%s: isAttestation = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"  7 ", 7 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999", 365 * 24 * time.Hour, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	}
	for _, tc := range cases {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzIndexWalk feeds the walk an index as a registry might serve it. The
// walk never panics, and when it succeeds every image entry a runtime could
// select (a platform other than unknown/unknown, whatever its annotations
// claim) is listed for judging.
func FuzzIndexWalk(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","platform":{"os":"linux","architecture":"arm64"},"annotations":{"vnd.docker.reference.type":"attestation-manifest"}}]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("b", 64) + `","platform":{"os":"unknown","architecture":"unknown"}}]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("c", 64) + `"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		idx, err := v1.ParseIndexManifest(strings.NewReader(string(raw)))
		if err != nil {
			return
		}
		// Every platformless entry's config says linux/amd64.
		src := &fakeIndexSource{indexes: map[v1.Hash]*v1.IndexManifest{}, platforms: map[v1.Hash]*v1.Platform{}, fetched: map[v1.Hash]int{}}
		for _, m := range idx.Manifests {
			src.platforms[m.Digest] = &v1.Platform{OS: "linux", Architecture: "amd64"}
		}
		root := fakeHash("root")
		ref := Reference{Input: "registry.example.com/team/app:1", Repository: name.MustParseReference("registry.example.com/team/app:1").Context(), Tag: "1"}
		w := newIndexWalk(src, ref, root)
		if err := w.walk(context.Background(), root, idx, 0); err != nil {
			return
		}
		listed := map[v1.Hash]bool{}
		pms, _ := w.result()
		for _, pm := range pms {
			listed[pm.Digest] = true
		}
		for _, m := range idx.Manifests {
			if !m.MediaType.IsImage() || isAttestation(m) {
				continue
			}
			if !listed[m.Digest] {
				t.Fatalf("runnable entry %s (platform %v, annotations %v) was not listed for judging", m.Digest, m.Platform, m.Annotations)
			}
		}
	})
}

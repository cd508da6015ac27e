package registry_test

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

var (
	linuxAMD64 = &v1.Platform{OS: "linux", Architecture: "amd64"}
	linuxARM64 = &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
)

func digestOf(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func resolveOn(t testing.TB, c *registry.Client, ref string) (*registry.Resolved, error) {
	t.Helper()
	parsed, err := c.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return c.Resolve(context.Background(), parsed)
}

// platformsOf renders walked platforms as "platform=digest" for comparison.
func platformsOf(pms []registry.PlatformManifest) []string {
	var out []string
	for _, pm := range pms {
		out = append(out, pm.Platform+"="+pm.Digest.String())
	}
	return out
}

func wantPlatforms(t testing.TB, got []registry.PlatformManifest, want ...string) {
	t.Helper()
	g := platformsOf(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("platforms:\n got %v\nwant %v", g, want)
	}
}

func TestIndexWalk_ordinaryIndexFetchesNoBlob(t *testing.T) {
	reg := acctest.NewRegistry(t)
	amd := acctest.Image(acctest.Config{User: "amd"}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{Architecture: "arm64", Variant: "v8"}, acctest.AlpineLayer("3.23.2"))
	reg.PushIndex(t, "multi:1", acctest.Index(amd, arm))
	c := newClient(t)
	r, err := resolveOn(t, c, reg.Ref("multi:1"))
	if err != nil {
		t.Fatal(err)
	}
	pms, err := c.Platforms(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPlatforms(t, pms, "linux/amd64="+digestOf(t, amd).String(), "linux/arm64/v8="+digestOf(t, arm).String())
	if n := reg.CountBlobs(); n != 0 {
		t.Fatalf("walking an index whose entries all have a platform fetched %d blobs, want 0", n)
	}
	if n := reg.CountManifests(); n != 1 {
		t.Fatalf("manifest requests = %d, want 1 (the index)", n)
	}
}

func TestIndexWalk_platformlessChild(t *testing.T) {
	reg := acctest.NewHostileRegistry(t)
	amd := acctest.Image(acctest.Config{User: "amd"}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{User: "arm", Architecture: "arm64", Variant: "v8"}, acctest.AlpineLayer("3.23.2"))
	idx := reg.PushOddIndex(t, "odd/platformless:1",
		acctest.IndexEntry{Image: amd, Platform: linuxAMD64},
		acctest.IndexEntry{Image: arm}, // no platform: containerd reads the config
	)
	c := newClient(t)
	r, err := resolveOn(t, c, reg.Ref("odd/platformless:1"))
	if err != nil {
		t.Fatal(err)
	}
	wantPlatforms(t, r.Platforms, "linux/amd64="+digestOf(t, amd).String(), "linux/arm64/v8="+digestOf(t, arm).String())
	if r.Platforms[1].Index != idx {
		t.Fatalf("platformless child's index = %s, want %s", r.Platforms[1].Index, idx)
	}
	img, err := c.Image(context.Background(), r, "linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest != digestOf(t, arm) || img.Config.Config.User != "arm" {
		t.Fatalf("linux/arm64 chose %s (user %q)", img.Digest, img.Config.Config.User)
	}
	// Only the platformless child's config was read, once: the walk and
	// Image share the memo.
	if n := reg.Honest.CountBlobs(); n != 1 {
		t.Fatalf("blob requests = %d, want 1 (the platformless child's config)", n)
	}
}

// nest wraps an index in another index, as `docker buildx imagetools create`
// can produce.
func nest(idx v1.ImageIndex) v1.ImageIndex {
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: idx})
}

func TestIndexWalk_nestedIndex(t *testing.T) {
	reg := acctest.NewHostileRegistry(t)
	amd := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{Architecture: "arm64", Variant: "v8"}, acctest.AlpineLayer("3.23.2"))
	s390x := acctest.Image(acctest.Config{Architecture: "s390x"}, acctest.AlpineLayer("3.23.2"))
	inner := acctest.Index(arm)
	innerDigest, _ := inner.Digest()
	reg.PushOddIndex(t, "odd/nested:1",
		acctest.IndexEntry{Image: amd, Platform: linuxAMD64},
		acctest.IndexEntry{Index: inner},
		acctest.IndexEntry{Index: nest(nest(acctest.Index(s390x)))},
	)
	c := newClient(t)
	r, err := resolveOn(t, c, reg.Ref("odd/nested:1"))
	if err != nil {
		t.Fatal(err)
	}
	wantPlatforms(t, r.Platforms,
		"linux/amd64="+digestOf(t, amd).String(),
		"linux/arm64/v8="+digestOf(t, arm).String(),
		"linux/s390x="+digestOf(t, s390x).String())
	if r.Platforms[1].Index != innerDigest {
		t.Fatalf("nested child's index = %s, want %s", r.Platforms[1].Index, innerDigest)
	}
	pms, err := c.Platforms(context.Background(), r, []string{"linux/s390x"})
	if err != nil || len(pms) != 1 || pms[0].Digest != digestOf(t, s390x) {
		t.Fatalf("selecting the doubly nested platform: %v %v", platformsOf(pms), err)
	}
	if n := reg.Honest.CountBlobs(); n != 0 {
		t.Fatalf("nested entries with platforms fetched %d blobs, want 0", n)
	}
}

func TestIndexWalk_depthLimit(t *testing.T) {
	reg := acctest.NewRegistry(t)
	amd := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2"))
	deep := acctest.Index(amd) // depth 0 when pushed alone
	for i := 0; i < 4; i++ {
		deep = nest(deep)
	}
	reg.PushIndex(t, "deep:4", deep) // the image's index is 4 levels below the top: allowed
	reg.PushIndex(t, "deep:5", nest(deep))
	c := newClient(t)
	r, err := resolveOn(t, c, reg.Ref("deep:4"))
	if err != nil {
		t.Fatalf("4 nested levels: %v", err)
	}
	wantPlatforms(t, r.Platforms, "linux/amd64="+digestOf(t, amd).String())

	_, err = resolveOn(t, c, reg.Ref("deep:5"))
	if registry.KindOf(err) != registry.KindServer || !strings.Contains(err.Error(), "more than 4 levels deep") || !strings.Contains(err.Error(), "flatten the index") {
		t.Fatalf("5 nested levels: want a depth error, got %v", err)
	}
}

func TestIndexWalk_attestationsSkipped(t *testing.T) {
	reg := acctest.NewHostileRegistry(t)
	amd := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2"))
	amdDigest := digestOf(t, amd)
	buildkit := acctest.Attestation(amdDigest)
	// BuildKit's attestation without the platform in its descriptor: its
	// config says unknown/unknown, so no runtime selects it either.
	platformless := acctest.Attestation(amdDigest, acctest.Layer(acctest.File{Path: "other.json", Content: "{}"}))
	platformless.Platform = nil
	reg.PushOddIndex(t, "odd/attested:1", acctest.IndexEntry{Image: amd, Platform: linuxAMD64}, buildkit, platformless)
	c := newClient(t)
	r, err := resolveOn(t, c, reg.Ref("odd/attested:1"))
	if err != nil {
		t.Fatal(err)
	}
	wantPlatforms(t, r.Platforms, "linux/amd64="+amdDigest.String())
	if len(r.Attestations) != 2 || r.Attestations[0] != digestOf(t, buildkit.Image) || r.Attestations[1] != digestOf(t, platformless.Image) {
		t.Fatalf("attestations = %v", r.Attestations)
	}
	if n := reg.Honest.CountBlobs(); n != 1 {
		t.Fatalf("skipping attestations fetched %d blobs, want 1 (the platformless one's config)", n)
	}

	t.Run("an index of attestations only has no runnable platform", func(t *testing.T) {
		reg.PushOddIndex(t, "odd/only-attestations:1", acctest.Attestation(amdDigest))
		r, err := resolveOn(t, c, reg.Ref("odd/only-attestations:1"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Platforms(context.Background(), r, nil)
		if registry.KindOf(err) != registry.KindPlatform || !strings.Contains(err.Error(), "no runnable platform (1 attestation manifest(s) skipped)") {
			t.Fatalf("got %v", err)
		}
	})
}

// An attacker with push rights annotates a runnable image as an
// attestation manifest. Runtimes choose by platform and never read the
// annotation, so the entry must be listed (and then judged), not skipped.
func TestIndexWalk_attestationClaimOnRunnableImage(t *testing.T) {
	reg := acctest.NewHostileRegistry(t)
	amd := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{Architecture: "arm64", User: "root"}, acctest.AlpineLayer("3.18.0"))
	claim := map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": digestOf(t, amd).String()}
	c := newClient(t)

	t.Run("with a runnable platform", func(t *testing.T) {
		reg.PushOddIndex(t, "odd/claim:platform", acctest.IndexEntry{Image: amd, Platform: linuxAMD64},
			acctest.IndexEntry{Image: arm, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}, Annotations: claim})
		r, err := resolveOn(t, c, reg.Ref("odd/claim:platform"))
		if err != nil {
			t.Fatal(err)
		}
		wantPlatforms(t, r.Platforms, "linux/amd64="+digestOf(t, amd).String(), "linux/arm64="+digestOf(t, arm).String())
		if len(r.Attestations) != 0 {
			t.Fatalf("attestations = %v, want none", r.Attestations)
		}
	})
	t.Run("without a platform: its config decides", func(t *testing.T) {
		reg.PushOddIndex(t, "odd/claim:none", acctest.IndexEntry{Image: amd, Platform: linuxAMD64}, acctest.IndexEntry{Image: arm, Annotations: claim})
		r, err := resolveOn(t, c, reg.Ref("odd/claim:none"))
		if err != nil {
			t.Fatal(err)
		}
		wantPlatforms(t, r.Platforms, "linux/amd64="+digestOf(t, amd).String(), "linux/arm64="+digestOf(t, arm).String())
	})
	t.Run("without a platform and not an image: an error that explains the claim", func(t *testing.T) {
		reg.PushOddIndex(t, "odd/claim:artifact", acctest.IndexEntry{Image: amd, Platform: linuxAMD64}, acctest.IndexEntry{Image: acctest.Artifact("sbom"), Annotations: claim})
		_, err := resolveOn(t, c, reg.Ref("odd/claim:artifact"))
		if registry.KindOf(err) != registry.KindServer || !strings.Contains(err.Error(), "annotated as an attestation manifest") || !strings.Contains(err.Error(), "unknown/unknown") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("control: BuildKit's layout is still skipped", func(t *testing.T) {
		reg.PushOddIndex(t, "odd/claim:control", acctest.IndexEntry{Image: amd, Platform: linuxAMD64}, acctest.Attestation(digestOf(t, amd)))
		r, err := resolveOn(t, c, reg.Ref("odd/claim:control"))
		if err != nil {
			t.Fatal(err)
		}
		wantPlatforms(t, r.Platforms, "linux/amd64="+digestOf(t, amd).String())
		if len(r.Attestations) != 1 {
			t.Fatalf("attestations = %v, want 1", r.Attestations)
		}
	})
}

func TestIndexWalk_duplicatePlatformsAndVariants(t *testing.T) {
	reg := acctest.NewHostileRegistry(t)
	amd1 := acctest.Image(acctest.Config{User: "first"}, acctest.AlpineLayer("3.23.2"))
	amd2 := acctest.Image(acctest.Config{User: "second"}, acctest.AlpineLayer("3.23.2"))
	armv6 := acctest.Image(acctest.Config{Architecture: "arm", Variant: "v6"}, acctest.AlpineLayer("3.23.2"))
	armv7 := acctest.Image(acctest.Config{Architecture: "arm", Variant: "v7"}, acctest.AlpineLayer("3.23.2"))
	reg.PushOddIndex(t, "odd/duplicates:1",
		acctest.IndexEntry{Image: amd1, Platform: linuxAMD64},
		acctest.IndexEntry{Image: armv7, Platform: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		acctest.IndexEntry{Image: amd2, Platform: linuxAMD64},
		acctest.IndexEntry{Image: armv6, Platform: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		acctest.IndexEntry{Image: amd1, Platform: linuxAMD64}, // the same entry twice is one image
	)
	c := newClient(t)
	ctx := context.Background()
	r, err := resolveOn(t, c, reg.Ref("odd/duplicates:1"))
	if err != nil {
		t.Fatal(err)
	}
	d1, d2, v6, v7 := digestOf(t, amd1).String(), digestOf(t, amd2).String(), digestOf(t, armv6).String(), digestOf(t, armv7).String()
	wantPlatforms(t, r.Platforms, "linux/amd64="+d1, "linux/amd64="+d2, "linux/arm/v6="+v6, "linux/arm/v7="+v7)

	pms, err := c.Platforms(ctx, r, []string{"linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	wantPlatforms(t, pms, "linux/amd64="+d1, "linux/amd64="+d2)
	pms, err = c.Platforms(ctx, r, []string{"linux/arm"})
	if err != nil {
		t.Fatal(err)
	}
	wantPlatforms(t, pms, "linux/arm/v6="+v6, "linux/arm/v7="+v7)
	pms, err = c.Platforms(ctx, r, []string{"linux/arm/v7", "linux/arm"})
	if err != nil {
		t.Fatal(err)
	}
	wantPlatforms(t, pms, "linux/arm/v7="+v7, "linux/arm/v6="+v6)

	// imageguard_image describes the one a runtime would pull: the first.
	img, err := c.Image(ctx, r, "linux/amd64")
	if err != nil || img.Config.Config.User != "first" {
		t.Fatalf("Image(linux/amd64) = %v, %v", img, err)
	}
	_, err = c.Image(ctx, r, "linux/s390x")
	if registry.KindOf(err) != registry.KindPlatform || !strings.Contains(err.Error(), "It provides: linux/amd64, linux/arm/v6, linux/arm/v7.") {
		t.Fatalf("got %v", err)
	}
}

func TestIndexWalk_unclassifiableChild(t *testing.T) {
	reg := acctest.NewHostileRegistry(t)
	amd := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{Architecture: "arm64"}, acctest.AlpineLayer("3.23.2"))
	armDigest := digestOf(t, arm).String()
	armConfig, _ := arm.ConfigName()
	artifact := acctest.Artifact("not an image")

	cases := []struct {
		name  string
		entry acctest.IndexEntry
		fault *acctest.Fault
		kind  registry.ErrorKind
		want  []string
	}{
		{
			name:  "unknown media type",
			entry: acctest.IndexEntry{Image: arm, Platform: linuxARM64, MediaType: "application/vnd.example.unknown+json"},
			kind:  registry.KindServer,
			want:  []string{armDigest, `media type "application/vnd.example.unknown+json"`, "neither an image nor an index", "Remove the entry"},
		},
		{
			name:  "artifact without a platform",
			entry: acctest.IndexEntry{Image: artifact},
			kind:  registry.KindServer,
			want:  []string{digestOf(t, artifact).String(), "without a platform", "not an image config", "Give the entry a `platform`"},
		},
		{
			name:  "config of a platformless child unreadable",
			entry: acctest.IndexEntry{Image: arm},
			fault: &acctest.Fault{Path: acctest.BlobPath("odd/unreadable-config", armConfig), Kind: acctest.FaultStatus, Status: 404},
			kind:  registry.KindNotFound,
			want:  []string{armDigest, "without a platform", "could not be read from its config"},
		},
		{
			name:  "config of a platformless child truncated",
			entry: acctest.IndexEntry{Image: arm},
			fault: &acctest.Fault{Path: acctest.BlobPath("odd/truncated-config", armConfig), Kind: acctest.FaultTruncate},
			kind:  registry.KindIntegrity,
			want:  []string{armDigest, "without a platform", "does not match its digest"},
		},
		{
			name:  "an image listed as an index",
			entry: acctest.IndexEntry{Image: arm, MediaType: types.OCIImageIndex},
			kind:  registry.KindServer,
			want:  []string{armDigest, "nested index", "listed as an index but is a " + string(types.OCIManifestSchema1)},
		},
	}
	repos := map[string]string{"config of a platformless child unreadable": "odd/unreadable-config", "config of a platformless child truncated": "odd/truncated-config"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := repos[tc.name]
			if repo == "" {
				repo = "odd/" + strings.ReplaceAll(tc.name, " ", "-")
			}
			reg.PushOddIndex(t, repo+":1", acctest.IndexEntry{Image: amd, Platform: linuxAMD64}, tc.entry)
			if tc.fault != nil {
				reg.Inject(*tc.fault)
				t.Cleanup(reg.Heal)
			}
			_, err := resolveOn(t, newClient(t), reg.Ref(repo+":1"))
			if err == nil {
				t.Fatal("an index with an entry that cannot be classified resolved")
			}
			if registry.KindOf(err) != tc.kind {
				t.Errorf("kind = %v, want %v", registry.KindOf(err), tc.kind)
			}
			for _, w := range append([]string{"The index " + reg.Ref(repo+":1")}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%s", w, err)
				}
			}
		})
	}
}

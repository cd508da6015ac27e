package gate_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

func newClient(t *testing.T) *registry.Client {
	t.Helper()
	c, err := registry.New(registry.Options{Keychain: authn.NewMultiKeychain()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func resolve(t *testing.T, c *registry.Client, ref string) *registry.Resolved {
	t.Helper()
	r, err := gate.Resolve(context.Background(), c, ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Inspect hands out exactly what it described: the index without a
// platform, that platform's manifest with one; a platform the index lacks
// is an error about `platform`, never the index.
func TestInspect(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	amd := acctest.Image(acctest.Config{OS: "linux", Architecture: "amd64", User: "app"}, acctest.Layer(acctest.File{Path: "app", Content: "amd64"}))
	arm := acctest.Image(acctest.Config{OS: "linux", Architecture: "arm64", User: "app"}, acctest.Layer(acctest.File{Path: "app", Content: "arm64"}))
	reg.PushIndex(t, "team/multi:1", acctest.Index(amd, arm))
	c := newClient(t)
	multi := resolve(t, c, reg.Ref("team/multi:1"))
	armDigest, err := arm.Digest()
	if err != nil {
		t.Fatal(err)
	}

	all, err := gate.Inspect(context.Background(), c, multi, "")
	if err != nil {
		t.Fatal(err)
	}
	if all.Pinned != multi.Pinned() {
		t.Errorf("without a platform Pinned = %s, want the index %s", all.Pinned, multi.Pinned())
	}
	one, err := gate.Inspect(context.Background(), c, multi, "linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	if one.Pinned.DigestStr() != armDigest.String() || one.Image.Digest != armDigest || one.Pinned.Context() != multi.Ref.Repository {
		t.Errorf("linux/arm64: Pinned = %s, image %s; want %s in %s", one.Pinned, one.Image.Digest, armDigest, multi.Ref.Repository)
	}

	_, err = gate.Inspect(context.Background(), c, multi, "linux/s390x")
	var ge *gate.Error
	if !errors.As(err, &ge) || ge.Attr != gate.FieldPlatform || ge.Summary != "Platform not in image" {
		t.Fatalf("a platform the index lacks: %#v", err)
	}
}

// Tags keeps what the query selects, newest first, and hands out each tag
// as the digest it names; bad input names the attribute it concerns.
func TestTags(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	digests := map[string]string{}
	for _, tag := range []string{"1.2.0", "1.10.0", "1.9.3", "latest", "1.10.0-rc.1"} {
		d := reg.Push(t, "team/svc:"+tag, acctest.Image(acctest.Config{OS: "linux", Architecture: "amd64"}, acctest.Layer(acctest.File{Path: "v", Content: tag})))
		digests[tag] = d.String()
	}
	c := newClient(t)
	got, err := gate.Tags(context.Background(), c, gate.TagQuery{Repository: reg.Ref("team/svc"), Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.10.0", "1.10.0-rc.1", "1.9.3"}
	if len(got.Tags) != len(want) || got.Listed != 5 {
		t.Fatalf("tags %v of %d listed, want %v of 5", got.Tags, got.Listed, want)
	}
	for i, tag := range want {
		if got.Tags[i] != tag || got.References[tag].DigestStr() != digests[tag] || got.References[tag].Context().Name() != reg.Ref("team/svc") {
			t.Errorf("tag %d = %s → %s, want %s → %s", i, got.Tags[i], got.References[got.Tags[i]], tag, digests[tag])
		}
	}

	bad := "v(1"
	for _, tc := range []struct {
		q     gate.TagQuery
		field gate.Field
	}{
		{gate.TagQuery{Repository: reg.Ref("team/svc"), Filter: &bad}, gate.FieldFilter},
		{gate.TagQuery{Repository: "Not A Repository"}, gate.FieldImage},
		{gate.TagQuery{Repository: reg.Ref("team/none")}, gate.FieldImage},
	} {
		_, err := gate.Tags(context.Background(), c, tc.q)
		var ge *gate.Error
		if !errors.As(err, &ge) || ge.Attr != tc.field || ge.Summary == "" || ge.Detail == "" {
			t.Errorf("%+v: %#v, want an error about %q", tc.q, err, tc.field)
		}
	}
}

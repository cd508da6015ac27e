package registry_test

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func pushTo(t testing.TB, host, repoTag string, img v1.Image) v1.Hash {
	t.Helper()
	return pushWith(t, host+"/"+repoTag, img)
}

func pushWith(t testing.TB, ref string, img v1.Image, opts ...remote.Option) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

package registry_test

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseReference_Offline(t *testing.T) {
	tests := []struct {
		name, in                          string
		registry, repository, tag, digest string
		defaultTag                        bool
		canonical                         string
	}{
		{name: "Docker Hub short name → library repository, default tag latest", in: "nginx",
			registry: name.DefaultRegistry, repository: "library/nginx", tag: "latest", defaultTag: true, canonical: name.DefaultRegistry + "/library/nginx:latest"},
		{name: "docker.io is Docker Hub", in: "docker.io/bitnami/redis:7",
			registry: name.DefaultRegistry, repository: "bitnami/redis", tag: "7", canonical: name.DefaultRegistry + "/bitnami/redis:7"},
		{name: "private registry with port and tag", in: "registry.example.com:5000/team/api:1.4.2",
			registry: "registry.example.com:5000", repository: "team/api", tag: "1.4.2", canonical: "registry.example.com:5000/team/api:1.4.2"},
		{name: "digest only: no tag is invented", in: "registry.example.com/acme/api@" + testDigest,
			registry: "registry.example.com", repository: "acme/api", digest: testDigest, canonical: "registry.example.com/acme/api@" + testDigest},
		{name: "tag and digest: both kept", in: "registry.example.com/acme/api:1.4@" + testDigest,
			registry: "registry.example.com", repository: "acme/api", tag: "1.4", digest: testDigest, canonical: "registry.example.com/acme/api:1.4@" + testDigest},
		{name: "port without tag is not a tag", in: "localhost:5000/api",
			registry: "localhost:5000", repository: "api", tag: "latest", defaultTag: true, canonical: "localhost:5000/api:latest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := registry.ParseReference(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			digest := ""
			if r.HasDigest() {
				digest = r.Digest.String()
			}
			got := []string{r.Registry(), r.Repository.RepositoryStr(), r.Tag, digest, r.Canonical()}
			want := []string{tt.registry, tt.repository, tt.tag, tt.digest, tt.canonical}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("field %d = %q, want %q", i, got[i], want[i])
				}
			}
			if r.DefaultTag != tt.defaultTag {
				t.Errorf("DefaultTag = %v, want %v", r.DefaultTag, tt.defaultTag)
			}
		})
	}
}

func TestParseReference_Refused(t *testing.T) {
	tests := []struct{ name, in, message string }{
		{"empty → error", "  ", "The image reference is empty"},
		{"uppercase repository → error", "registry.example.com/Team/api:1", "is malformed"},
		{"short digest → error", "registry.example.com/acme/api@sha256:abc", "malformed digest"},
		{"uppercase hex digest → error", "registry.example.com/acme/api@" + strings.ToUpper(testDigest), "malformed digest"},
		{"digest without algorithm → error", "registry.example.com/acme/api@" + testDigest[len("sha256:"):], "malformed digest"},
		{"sha512 digest → error (runtimes pin by sha256)", "registry.example.com/acme/api@sha512:" + strings.Repeat("ab", 64), "malformed digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := registry.ParseReference(tt.in)
			if err == nil {
				t.Fatalf("%q parsed", tt.in)
			}
			if registry.KindOf(err) != registry.KindMalformed || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("got %v (%v), want KindMalformed with %q", err, registry.KindOf(err), tt.message)
			}
		})
	}
}

// FuzzParseReference_canonical: what parses has a canonical form that
// parses to itself (normalize is idempotent), keeps the digest, and only
// a reference with a digest is pinned.
func FuzzParseReference_canonical(f *testing.F) {
	for _, s := range []string{"nginx", "docker.io/bitnami/redis:7", "localhost:5000/api", "registry.example.com/acme/api:1.4@" + testDigest, "a/b/c@" + testDigest, "UPPER/x", "x@sha256:", ":@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := registry.ParseReference(s)
		if err != nil {
			return
		}
		c := r.Canonical()
		again, err := registry.ParseReference(c)
		if err != nil {
			t.Fatalf("%q parsed, its canonical form %q does not: %v", s, c, err)
		}
		if again.Canonical() != c || again.Digest != r.Digest || again.DefaultTag {
			t.Fatalf("%q → %q → %q (digest %q → %q, default tag %v)", s, c, again.Canonical(), r.Digest, again.Digest, again.DefaultTag)
		}
		if _, err := registry.ParseDigest(r.Digest.String()); r.HasDigest() && err != nil {
			t.Fatalf("%q parsed with a digest %q that ParseDigest refuses", s, r.Digest)
		}
	})
}

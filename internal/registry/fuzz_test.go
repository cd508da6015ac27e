package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FuzzParseReference checks that a reference either is rejected as
// malformed with a message, or parses to a repository with a tag or a
// digest that reads back the same when written out again.
func FuzzParseReference(f *testing.F) {
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, s := range []string{
		"registry.example.com/team/api:1.4.2",
		"registry.example.com/team/api",
		"registry.example.com/team/api@" + dgst,
		"registry.example.com/team/api:1.4.2@" + dgst,
		"127.0.0.1:5000/app:v1",
		"localhost:5000/app@" + dgst,
		"[::1]:5000/app:v1",
		"alpine:3.20",
		"alpine",
		"insecure.example.test/app:1",
		"  ",
		"",
		"registry.example.com/Team/API:1",
		"registry.example.com/team/api@sha256:abc",
		"registry.example.com/team/api:bad tag",
		"a@b@c",
		"host:5000/app:tag:tag",
		"registry.example.com/team/api:@" + dgst,
		"@" + dgst,
		"registry.example.com/team/api@sha512:" + strings.Repeat("ab", 64),
	} {
		f.Add(s)
	}
	c, err := New(Options{Registries: []RegistryOptions{{Address: "insecure.example.test", Insecure: true}}, Keychain: authn.NewMultiKeychain()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := c.ParseReference(s)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.Kind != KindMalformed || re.Message == "" || re.Ref != s {
				t.Fatalf("ParseReference(%q): error %v is not a malformed-reference Error for the input", s, err)
			}
			return
		}
		if ref.Input != s {
			t.Fatalf("Input = %q, want %q", ref.Input, s)
		}
		if ref.Repository.RepositoryStr() == "" || ref.Registry() == "" {
			t.Fatalf("ParseReference(%q): empty repository or registry: %+v", s, ref)
		}
		if ref.Tag == "" && !ref.HasDigest() {
			t.Fatalf("ParseReference(%q) names neither a tag nor a digest", s)
		}
		if ref.HasDigest() {
			if _, err := v1.NewHash(ref.Digest.String()); err != nil {
				t.Fatalf("ParseReference(%q): digest %q does not parse: %v", s, ref.Digest, err)
			}
		}
		// Written out in full, it parses to the same reference.
		full := ref.Repository.Name()
		if ref.Tag != "" {
			full += ":" + ref.Tag
		}
		if ref.HasDigest() {
			full += "@" + ref.Digest.String()
		}
		again, err := c.ParseReference(full)
		if err != nil {
			t.Fatalf("ParseReference(%q) = %s, which does not parse again: %v", s, full, err)
		}
		if again.Repository.Name() != ref.Repository.Name() || again.Tag != ref.Tag || again.Digest != ref.Digest || again.Registry() != ref.Registry() {
			t.Fatalf("round trip of %q through %q: %+v, then %+v", s, full, ref, again)
		}
		if c.IsInsecure(ref.Registry()) && ref.Repository.Scheme() != "http" {
			t.Fatalf("ParseReference(%q): registry %s is listed as insecure but is read over %s", s, ref.Registry(), ref.Repository.Scheme())
		}
	})
}

// FuzzParsePlatform checks that a platform either is rejected or parses to
// non-empty os and architecture that print back as the (trimmed) input and
// match themselves.
func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64", " linux/amd64 ", "linux", "linux/", "/amd64", "linux/arm/v7/extra", "linux/arm/", "", "//", "a/b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePlatform(s)
		if err != nil {
			if p != nil {
				t.Fatalf("ParsePlatform(%q) returned both %+v and %v", s, p, err)
			}
			if !strings.Contains(err.Error(), "os/arch[/variant]") {
				t.Fatalf("ParsePlatform(%q): error %q does not say the form", s, err)
			}
			return
		}
		if p.OS == "" || p.Architecture == "" {
			t.Fatalf("ParsePlatform(%q) = %+v: empty os or architecture", s, p)
		}
		for _, part := range []string{p.OS, p.Architecture, p.Variant} {
			if strings.Contains(part, "/") {
				t.Fatalf("ParsePlatform(%q) = %+v: a part holds a slash", s, p)
			}
		}
		if got := platformString(p); got != strings.TrimSpace(s) {
			t.Fatalf("ParsePlatform(%q) prints back as %q", s, got)
		}
		again, err := ParsePlatform(platformString(p))
		if err != nil || again.OS != p.OS || again.Architecture != p.Architecture || again.Variant != p.Variant {
			t.Fatalf("ParsePlatform(%q) = %+v does not round-trip: %+v, %v", s, p, again, err)
		}
		if !platformMatches(p, p) {
			t.Fatalf("ParsePlatform(%q) = %+v does not match itself", s, p)
		}
	})
}

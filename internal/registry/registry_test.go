package registry_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

func newClient(t testing.TB, regs ...registry.RegistryOptions) *registry.Client {
	t.Helper()
	c, err := registry.New(registry.Options{
		Registries: regs,
		UserAgent:  "terraform-provider-imageguard/test",
		Keychain:   authn.NewMultiKeychain(), // never the developer's docker config
		Retry:      remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseReference(t *testing.T) {
	c := newClient(t)
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := []struct {
		name, in         string
		repo, tag, digst string
		wantErr          string
	}{
		{name: "tag", in: "registry.example.com/team/api:1.4.2", repo: "registry.example.com/team/api", tag: "1.4.2"},
		{name: "no tag means latest", in: "registry.example.com/team/api", repo: "registry.example.com/team/api", tag: "latest"},
		{name: "digest only", in: "registry.example.com/team/api@" + dgst, repo: "registry.example.com/team/api", digst: dgst},
		{name: "tag and digest", in: "registry.example.com/team/api:1.4.2@" + dgst, repo: "registry.example.com/team/api", tag: "1.4.2", digst: dgst},
		{name: "port and tag", in: "127.0.0.1:5000/app:v1", repo: "127.0.0.1:5000/app", tag: "v1"},
		{name: "port and digest", in: "localhost:5000/app@" + dgst, repo: "localhost:5000/app", digst: dgst},
		{name: "docker hub short name", in: "alpine:3.20", repo: name.DefaultRegistry + "/library/alpine", tag: "3.20"},
		{name: "empty", in: "  ", wantErr: "empty"},
		{name: "uppercase repository", in: "registry.example.com/Team/API:1", wantErr: "malformed"},
		{name: "bad digest", in: "registry.example.com/team/api@sha256:abc", wantErr: "malformed digest"},
		{name: "bad tag", in: "registry.example.com/team/api:bad tag", wantErr: "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.ParseReference(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error containing %q, got %v", tc.wantErr, err)
				}
				if registry.KindOf(err) != registry.KindMalformed {
					t.Fatalf("want KindMalformed, got %v", registry.KindOf(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			digest := ""
			if got.HasDigest() {
				digest = got.Digest.String()
			}
			if got.Repository.Name() != tc.repo || got.Tag != tc.tag || digest != tc.digst {
				t.Fatalf("got repo=%s tag=%s digest=%s", got.Repository.Name(), got.Tag, got.Digest)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1:5000": true, "127.8.9.10": true, "localhost:5000": true, "localhost": true,
		"[::1]:5000": true, "::1": true, "10.0.0.1:5000": false, "192.168.1.2": false,
		"registry.example.com": false, "localhost.example.com:5000": false, "128.0.0.1": false,
	}
	for host, want := range cases {
		if got := registry.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParsePlatform(t *testing.T) {
	cases := []struct {
		in, os, arch, variant string
		ok                    bool
	}{
		{"linux/amd64", "linux", "amd64", "", true},
		{"linux/arm64/v8", "linux", "arm64", "v8", true},
		{"linux", "", "", "", false},
		{"linux/", "", "", "", false},
		{"linux/arm/v7/extra", "", "", "", false},
		{"linux/arm/", "", "", "", false},
	}
	for _, tc := range cases {
		p, err := registry.ParsePlatform(tc.in)
		if (err == nil) != tc.ok {
			t.Fatalf("%q: err = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if tc.ok && (p.OS != tc.os || p.Architecture != tc.arch || p.Variant != tc.variant) {
			t.Fatalf("%q: got %+v", tc.in, p)
		}
	}
}

func TestResolveTagDigestAndIndex(t *testing.T) {
	reg := acctest.NewRegistry(t)
	amd := acctest.Image(acctest.Config{User: "1000", Labels: map[string]string{"a": "b"}}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{Architecture: "arm64", Variant: "v8"}, acctest.AlpineLayer("3.23.2"))
	idxDigest := reg.PushIndex(t, "multi:1", acctest.Index(amd, arm))
	single := reg.Push(t, "single:1", amd)
	ctx := context.Background()
	c := newClient(t)

	t.Run("tag of a single image", func(t *testing.T) {
		ref, _ := c.ParseReference(reg.Ref("single:1"))
		r, err := c.Resolve(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if r.Digest != single || r.IsIndex() || r.Pinned().String() != reg.Host+"/single@"+single.String() {
			t.Fatalf("got %s %s %s", r.Digest, r.MediaType, r.Pinned())
		}
		img, err := c.Image(ctx, r, "")
		if err != nil {
			t.Fatal(err)
		}
		if img.Config.Config.User != "1000" || img.Platform != "linux/amd64" || len(img.Manifest.Layers) != 1 || img.Size() <= 0 {
			t.Fatalf("image facts: %+v", img)
		}
	})
	t.Run("index with platforms", func(t *testing.T) {
		ref, _ := c.ParseReference(reg.Ref("multi:1"))
		r, err := c.Resolve(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if r.Digest != idxDigest || !r.IsIndex() || len(r.Platforms) != 2 || r.Platforms[0].Platform != "linux/amd64" || r.Platforms[1].Platform != "linux/arm64/v8" {
			t.Fatalf("got %+v", r.Platforms)
		}
		img, err := c.Image(ctx, r, "linux/arm64")
		if err != nil {
			t.Fatal(err)
		}
		if img.Digest != r.Platforms[1].Digest || img.Config.Architecture != "arm64" {
			t.Fatalf("arm64 chose %s", img.Digest)
		}
		_, err = c.Image(ctx, r, "linux/s390x")
		if registry.KindOf(err) != registry.KindPlatform || !strings.Contains(err.Error(), "linux/amd64, linux/arm64/v8") {
			t.Fatalf("want platform error listing platforms, got %v", err)
		}
	})
	t.Run("single image and a foreign platform", func(t *testing.T) {
		ref, _ := c.ParseReference(reg.Ref("single:1"))
		r, _ := c.Resolve(ctx, ref)
		_, err := c.Image(ctx, r, "linux/arm64")
		if registry.KindOf(err) != registry.KindPlatform || !strings.Contains(err.Error(), "single-platform image for linux/amd64") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("tag@digest where the tag moved: digest wins", func(t *testing.T) {
		old := reg.Push(t, "moving:1", arm)
		reg.Push(t, "moving:1", amd)
		ref, _ := c.ParseReference(reg.Ref("moving:1") + "@" + old.String())
		r, err := c.Resolve(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if r.Digest != old || r.TagDigest != single.String() {
			t.Fatalf("digest %s tagDigest %s", r.Digest, r.TagDigest)
		}
	})
	t.Run("unknown tag", func(t *testing.T) {
		ref, _ := c.ParseReference(reg.Ref("single:nope"))
		_, err := c.Resolve(ctx, ref)
		if registry.KindOf(err) != registry.KindNotFound || !strings.Contains(err.Error(), "single:nope") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unknown digest", func(t *testing.T) {
		ref, _ := c.ParseReference(reg.Ref("single") + "@sha256:" + strings.Repeat("0", 64))
		_, err := c.Resolve(ctx, ref)
		if registry.KindOf(err) != registry.KindNotFound {
			t.Fatalf("got %v", err)
		}
	})
}

func TestResolveFetchesDigestNotTrusted(t *testing.T) {
	// A registry that serves other content under a digest must be caught.
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	var lie string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lie != "" && strings.Contains(r.URL.Path, "/manifests/sha256:") && r.Method == http.MethodGet {
			r.URL.Path = strings.Replace(r.URL.Path, r.URL.Path[strings.Index(r.URL.Path, "/manifests/")+len("/manifests/"):], lie, 1)
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	reg := &acctest.Registry{Host: host}
	a := pushTo(t, host, "app:a", acctest.Image(acctest.Config{User: "a"}, acctest.AlpineLayer("3.23.2")))
	b := pushTo(t, host, "app:b", acctest.Image(acctest.Config{User: "b"}, acctest.AlpineLayer("3.23.2")))
	_ = reg
	lie = "b"
	c := newClient(t)
	ref, _ := c.ParseReference(host + "/app@" + a.String())
	_, err := c.Resolve(context.Background(), ref)
	if err == nil {
		t.Fatalf("a manifest that does not match %s (served %s) was accepted", a, b)
	}
}

func TestUnauthorized(t *testing.T) {
	reg := acctest.NewRegistry(t, acctest.WithBasicAuth("alice", "s3cret-password"))
	reg.Push(t, "private:1", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2")))
	ctx := context.Background()

	for name, regs := range map[string][]registry.RegistryOptions{
		"no credentials":    nil,
		"wrong credentials": {{Address: reg.Host, Username: "alice", Password: "wrong-password-value"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, regs...)
			ref, _ := c.ParseReference(reg.Ref("private:1"))
			_, err := c.Resolve(ctx, ref)
			if registry.KindOf(err) != registry.KindUnauthorized {
				t.Fatalf("want unauthorized, got %v", err)
			}
			for _, want := range []string{reg.Host, "401", "registry {", "docker config"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %s", want, err)
				}
			}
			if strings.Contains(err.Error(), "wrong-password-value") || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("message leaks a password: %s", err)
			}
		})
	}
	t.Run("right credentials", func(t *testing.T) {
		c := newClient(t, registry.RegistryOptions{Address: reg.Host, Username: "alice", Password: "s3cret-password"})
		ref, _ := c.ParseReference(reg.Ref("private:1"))
		if _, err := c.Resolve(ctx, ref); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bearer token", func(t *testing.T) {
		treg := acctest.NewRegistry(t, acctest.WithBearerToken("tok-123456"))
		treg.Push(t, "private:1", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2")))
		c := newClient(t, registry.RegistryOptions{Address: treg.Host, Token: "tok-123456"})
		ref, _ := c.ParseReference(treg.Ref("private:1"))
		if _, err := c.Resolve(ctx, ref); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTransportSecurity(t *testing.T) {
	ctx := context.Background()
	t.Run("plain HTTP to a non-loopback registry is refused before any connection", func(t *testing.T) {
		c := newClient(t)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://10.255.255.1:5000/v2/", nil)
		_, err := c.Transport().RoundTrip(req)
		if err == nil || !strings.Contains(err.Error(), "plain HTTP to 10.255.255.1:5000 refused") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("insecure registry may use plain HTTP", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
		defer srv.Close()
		// Address the loopback server through a name that is not loopback by
		// routing: the guard looks only at the URL host.
		c := newClient(t, registry.RegistryOptions{Address: "insecure.example.test", Insecure: true})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://insecure.example.test/v2/", nil)
		_, err := c.Transport().RoundTrip(req)
		var plain interface{ Error() string }
		if err != nil && strings.Contains(err.Error(), "plain HTTP") {
			t.Fatalf("insecure registry refused: %v", plain)
		}
	})
	t.Run("TLS with an unknown CA fails, and ca_cert_pem fixes it", func(t *testing.T) {
		inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
		srv := httptest.NewTLSServer(inner)
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		defer srv.Close()
		host := strings.TrimPrefix(srv.URL, "https://")
		pushWith(t, host+"/app:1", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2")), remote.WithTransport(srv.Client().Transport))

		c := newClient(t)
		ref, _ := c.ParseReference(host + "/app:1")
		_, err := c.Resolve(ctx, ref)
		if registry.KindOf(err) != registry.KindTLS || !strings.Contains(err.Error(), "ca_cert_pem") {
			t.Fatalf("want TLS error, got %v", err)
		}
		caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
		c = newClient(t, registry.RegistryOptions{Address: host, CACertPEM: caPEM})
		ref, _ = c.ParseReference(host + "/app:1")
		if _, err := c.Resolve(ctx, ref); err != nil {
			t.Fatalf("with ca_cert_pem: %v", err)
		}
		c = newClient(t, registry.RegistryOptions{Address: host, Insecure: true})
		ref, _ = c.ParseReference(host + "/app:1")
		if _, err := c.Resolve(ctx, ref); err != nil {
			t.Fatalf("with insecure: %v", err)
		}
		_ = x509.ErrUnsupportedAlgorithm
	})
	t.Run("unreachable registry", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		host := strings.TrimPrefix(srv.URL, "http://")
		srv.Close()
		c := newClient(t)
		ref, _ := c.ParseReference(host + "/app:1")
		_, err := c.Resolve(ctx, ref)
		if registry.KindOf(err) != registry.KindUnreachable || !strings.Contains(err.Error(), "Cannot reach registry "+host) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ca_cert_pem that is not PEM", func(t *testing.T) {
		_, err := registry.New(registry.Options{Registries: []registry.RegistryOptions{{Address: "r.example.com", CACertPEM: "nope"}}})
		if err == nil || !strings.Contains(err.Error(), "ca_cert_pem") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("token and password together", func(t *testing.T) {
		_, err := registry.New(registry.Options{Registries: []registry.RegistryOptions{{Address: "r.example.com", Username: "u", Password: "p", Token: "t"}}})
		if err == nil || !strings.Contains(err.Error(), "either `token`") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestMemoisedOneManifestRequestPerReference(t *testing.T) {
	reg := acctest.NewRegistry(t)
	reg.Push(t, "app:1", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2")))
	c := newClient(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		ref, _ := c.ParseReference(reg.Ref("app:1"))
		r, err := c.Resolve(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Image(ctx, r, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := reg.CountManifests(); n != 1 {
		t.Fatalf("manifest requests = %d, want 1", n)
	}
	if n := reg.CountBlobs(); n != 1 {
		t.Fatalf("blob requests = %d, want 1 (the config)", n)
	}
}

func TestErrorsAreNotMemoised(t *testing.T) {
	reg := acctest.NewRegistry(t)
	reg.Push(t, "app:1", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2")))
	c := newClient(t)
	ref, _ := c.ParseReference(reg.Ref("app:1"))
	reg.SetDown(true)
	_, err := c.Resolve(context.Background(), ref)
	if registry.KindOf(err) != registry.KindServer {
		t.Fatalf("want server error while down, got %v", err)
	}
	reg.SetDown(false)
	if _, err := c.Resolve(context.Background(), ref); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	var re *registry.Error
	if !errors.As(err, &re) && err != nil {
		t.Fatal("not a registry error")
	}
}

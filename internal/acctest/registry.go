// Package acctest is the test-only harness: an in-process OCI registry that
// counts requests, image builders that make real layers, and the lookup of
// the terraform binary. It is imported only from tests and benchmarks.
package acctest

import (
	"crypto/subtle"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Request is one request the registry saw.
type Request struct {
	Method string
	Path   string
}

// Registry is go-containerregistry's in-process registry (with the OCI 1.1
// referrers API) on an httptest server, with optional authentication and a
// log of the requests it served.
type Registry struct {
	Server *httptest.Server
	// Host is host:port, e.g. "127.0.0.1:41234".
	Host string

	mu       sync.Mutex
	requests []Request
	down     atomic.Bool
	username string
	password string
	token    string
}

// RegistryOption configures the test registry.
type RegistryOption func(*Registry)

// WithBasicAuth requires HTTP basic credentials.
func WithBasicAuth(username, password string) RegistryOption {
	return func(r *Registry) { r.username, r.password = username, password }
}

// WithBearerToken requires "Authorization: Bearer <token>".
func WithBearerToken(token string) RegistryOption {
	return func(r *Registry) { r.token = token }
}

// NewRegistry starts a registry for the test and stops it when the test ends.
func NewRegistry(tb testing.TB, opts ...RegistryOption) *Registry {
	tb.Helper()
	r := &Registry{}
	for _, o := range opts {
		o(r)
	}
	inner := ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(discardLogger()))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "registry is down for this test", http.StatusServiceUnavailable)
			return
		}
		if !r.authorized(req) {
			if r.token != "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="imageguard-test"`)
			} else {
				w.Header().Set("WWW-Authenticate", `Basic realm="imageguard-test"`)
			}
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		r.mu.Lock()
		r.requests = append(r.requests, Request{Method: req.Method, Path: req.URL.Path})
		r.mu.Unlock()
		inner.ServeHTTP(w, req)
	}))
	r.Host = strings.TrimPrefix(r.Server.URL, "http://")
	tb.Cleanup(r.Server.Close)
	return r
}

func (r *Registry) authorized(req *http.Request) bool {
	switch {
	case r.token != "":
		got := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		return subtle.ConstantTimeCompare([]byte(got), []byte(r.token)) == 1
	case r.username != "":
		u, p, ok := req.BasicAuth()
		return ok && u == r.username && subtle.ConstantTimeCompare([]byte(p), []byte(r.password)) == 1
	}
	return true
}

// SetDown makes every request fail with 503 (true) or serves again (false).
func (r *Registry) SetDown(down bool) { r.down.Store(down) }

// Requests returns a copy of the requests served so far.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// ResetRequests forgets the requests served so far.
func (r *Registry) ResetRequests() {
	r.mu.Lock()
	r.requests = nil
	r.mu.Unlock()
}

// CountManifests counts manifest GET/HEAD requests.
func (r *Registry) CountManifests() int {
	return r.count(func(q Request) bool { return strings.Contains(q.Path, "/manifests/") })
}

// CountBlobs counts blob GET requests (layers and configs).
func (r *Registry) CountBlobs() int {
	return r.count(func(q Request) bool { return q.Method == http.MethodGet && strings.Contains(q.Path, "/blobs/") })
}

func (r *Registry) count(f func(Request) bool) int {
	n := 0
	for _, q := range r.Requests() {
		if f(q) {
			n++
		}
	}
	return n
}

// Ref returns host/repo:tag for this registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

func (r *Registry) auth() remote.Option {
	switch {
	case r.token != "":
		return remote.WithAuth(bearer(r.token))
	case r.username != "":
		return remote.WithAuth(basic(r.username, r.password))
	}
	return remote.WithAuth(anonymous())
}

// Push writes an image under repo:tag and returns its digest. Pushing does
// not count as requests the code under test made.
func (r *Registry) Push(tb testing.TB, repoTag string, img v1.Image) v1.Hash {
	tb.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag), name.WeakValidation)
	if err != nil {
		tb.Fatalf("parse %s: %v", repoTag, err)
	}
	if err := remote.Write(ref, img, r.auth()); err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	r.ResetRequests()
	return d
}

// PushIndex writes a multi-platform index under repo:tag.
func (r *Registry) PushIndex(tb testing.TB, repoTag string, idx v1.ImageIndex) v1.Hash {
	tb.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag), name.WeakValidation)
	if err != nil {
		tb.Fatalf("parse %s: %v", repoTag, err)
	}
	if err := remote.WriteIndex(ref, idx, r.auth()); err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	r.ResetRequests()
	return d
}

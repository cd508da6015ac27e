package acctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FaultKind is one way the hostile registry misbehaves.
type FaultKind int

const (
	// FaultStatus answers with Fault.Status (default 503) and a registry
	// error body.
	FaultStatus FaultKind = iota + 1
	// FaultRateLimit answers 429 Too Many Requests with Fault.RetryAfter as
	// the Retry-After header (none when empty).
	FaultRateLimit
	// FaultHang holds the request until the client gives up on it.
	FaultHang
	// FaultTruncate serves the first half of the body with a Content-Length
	// that matches what is sent: a short blob that looks complete.
	FaultTruncate
	// FaultCutOff announces the full Content-Length, sends half of the body
	// and closes the connection.
	FaultCutOff
	// FaultSwap serves the manifest named by Fault.SwapWith (a tag or digest
	// in the same repository) in place of the one asked for, with that
	// manifest's own headers: a registry that lies about content.
	FaultSwap
	// FaultRedirect answers 307 Temporary Redirect to Fault.RedirectTo with
	// the request's path appended, as registries send blob reads to their
	// storage. Pointing it at the hostile registry itself makes a loop.
	FaultRedirect
	// FaultTagPages serves the tag list honestly in pages of Fault.PageSize,
	// each but the last with a `Link` to the next, as distribution does.
	FaultTagPages
	// FaultLinkLoop serves tag-list pages whose `Link` leads back to a page
	// already sent.
	FaultLinkLoop
	// FaultTagFlood serves tag-list pages of Fault.PageSize new tags, each
	// with a `Link` to another, without end.
	FaultTagFlood
)

// Fault selects requests and says how to misbehave on them.
type Fault struct {
	// Path is a regular expression matched against the URL path, e.g.
	// ManifestPath("team/app", "1") or BlobPath("team/app", digest).
	Path string
	// Method, when set, must equal the request's method.
	Method string
	Kind   FaultKind
	// Status is FaultStatus's answer; default 503.
	Status int
	// RetryAfter is FaultRateLimit's Retry-After header value.
	RetryAfter string
	// SwapWith is FaultSwap's replacement: a tag or digest.
	SwapWith string
	// RedirectTo is FaultRedirect's target: scheme://host[:port], no path.
	RedirectTo string
	// PageSize is the tag-list faults' page size; default 2.
	PageSize int
	// Times faults only the first Times matching requests, then serves them
	// honestly; 0 faults every one.
	Times int
}

// ManifestPath matches the manifest requests of repo for reference (a tag
// or digest); "" matches every manifest of repo.
func ManifestPath(repo, reference string) string {
	if reference == "" {
		return "^/v2/" + regexp.QuoteMeta(repo) + "/manifests/"
	}
	return "^/v2/" + regexp.QuoteMeta(repo) + "/manifests/" + regexp.QuoteMeta(reference) + "$"
}

// BlobPath matches the requests for one blob of repo.
func BlobPath(repo string, d v1.Hash) string {
	return "^/v2/" + regexp.QuoteMeta(repo) + "/blobs/" + regexp.QuoteMeta(d.String()) + "$"
}

type faultRule struct {
	Fault
	path *regexp.Regexp
	hits int
}

// HostileRegistry is a fault-injecting front for an honest in-process
// registry: both serve the same storage, so fixtures are pushed through the
// honest one (Push, PushIndex, PushOddIndex) and the code under test reads
// through this one (Host, Ref), where injected faults apply. Requests that
// are not faulted reach the honest registry and are counted there.
type HostileRegistry struct {
	// Honest is the well-behaved registry behind the faults.
	Honest *Registry
	Server *httptest.Server
	// Host is this registry's host:port.
	Host string

	mu      sync.Mutex
	rules   []*faultRule
	faulted []Request
}

// NewHostileRegistry starts a hostile registry (and the honest one behind
// it) for the test; both stop when the test ends.
func NewHostileRegistry(tb testing.TB, opts ...RegistryOption) *HostileRegistry {
	tb.Helper()
	h := &HostileRegistry{Honest: NewRegistry(tb, opts...)}
	honest := h.Honest.Server.Config.Handler
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rule := h.match(req)
		if rule == nil {
			honest.ServeHTTP(w, req)
			return
		}
		h.serveFault(w, req, rule, honest)
	}))
	h.Server.Config.ErrorLog = discardLogger()
	h.Host = strings.TrimPrefix(h.Server.URL, "http://")
	tb.Cleanup(h.Server.Close)
	return h
}

// Ref returns host/repo:tag (or host/repo@digest) on the hostile host.
func (h *HostileRegistry) Ref(repoTag string) string { return h.Host + "/" + repoTag }

// Inject adds a fault; the first matching fault wins.
func (h *HostileRegistry) Inject(f Fault) {
	if f.Kind == FaultStatus && f.Status == 0 {
		f.Status = http.StatusServiceUnavailable
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rules = append(h.rules, &faultRule{Fault: f, path: regexp.MustCompile(f.Path)})
}

// Heal removes every fault.
func (h *HostileRegistry) Heal() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rules = nil
}

// Faulted returns the requests that got a fault, in order.
func (h *HostileRegistry) Faulted() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.faulted...)
}

func (h *HostileRegistry) match(req *http.Request) *faultRule {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rules {
		if (r.Method != "" && r.Method != req.Method) || !r.path.MatchString(req.URL.Path) {
			continue
		}
		if r.Times > 0 && r.hits >= r.Times {
			continue
		}
		if (r.Kind == FaultTruncate || r.Kind == FaultCutOff) && req.Method != http.MethodGet {
			continue // only a GET has a body to cut
		}
		if r.Kind == FaultRedirect && !h.Honest.authorized(req) {
			continue // a registry authenticates before it redirects
		}
		r.hits++
		h.faulted = append(h.faulted, Request{Method: req.Method, Path: req.URL.Path})
		return r
	}
	return nil
}

func (h *HostileRegistry) serveFault(w http.ResponseWriter, req *http.Request, rule *faultRule, honest http.Handler) {
	switch rule.Kind {
	case FaultStatus:
		writeRegistryError(w, rule.Status, "UNAVAILABLE", "injected failure")
	case FaultRateLimit:
		if rule.RetryAfter != "" {
			w.Header().Set("Retry-After", rule.RetryAfter)
		}
		writeRegistryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "rate limit exceeded")
	case FaultHang:
		<-req.Context().Done()
	case FaultTruncate, FaultCutOff:
		rec := httptest.NewRecorder()
		honest.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		half := body[:len(body)/2]
		if rule.Kind == FaultCutOff {
			cutOff(w, rec, len(body), half)
			return
		}
		copyHeader(w.Header(), rec.Header())
		w.Header().Set("Content-Length", strconv.Itoa(len(half)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(half)
	case FaultSwap:
		i := strings.LastIndex(req.URL.Path, "/manifests/")
		if i < 0 {
			writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", "swap fault on a path that is not a manifest")
			return
		}
		swapped := req.Clone(req.Context())
		swapped.URL.Path = req.URL.Path[:i] + "/manifests/" + rule.SwapWith
		honest.ServeHTTP(w, swapped)
	case FaultRedirect:
		http.Redirect(w, req, strings.TrimSuffix(rule.RedirectTo, "/")+req.URL.Path, http.StatusTemporaryRedirect)
	case FaultTagPages, FaultLinkLoop, FaultTagFlood:
		serveTagPages(w, req, rule.Fault, honest)
	default:
		writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", fmt.Sprintf("unknown fault kind %d", rule.Kind))
	}
}

// cutOff writes the status and headers with the full Content-Length, then
// part of the body, and drops the connection.
func cutOff(w http.ResponseWriter, rec *httptest.ResponseRecorder, full int, part []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", "cannot hijack the connection")
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	hdr := rec.Header().Clone()
	hdr.Set("Content-Length", strconv.Itoa(full))
	hdr.Set("Connection", "close")
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", rec.Code, http.StatusText(rec.Code))
	_ = hdr.Write(&b)
	b.WriteString("\r\n")
	b.Write(part)
	_, _ = buf.Write(b.Bytes())
	_ = buf.Flush()
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append([]string(nil), vs...)
	}
}

func writeRegistryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// Push writes an image through the honest registry.
func (h *HostileRegistry) Push(tb testing.TB, repoTag string, img v1.Image) v1.Hash {
	tb.Helper()
	return h.Honest.Push(tb, repoTag, img)
}

// PushIndex writes an index through the honest registry.
func (h *HostileRegistry) PushIndex(tb testing.TB, repoTag string, idx v1.ImageIndex) v1.Hash {
	tb.Helper()
	return h.Honest.PushIndex(tb, repoTag, idx)
}

// IndexEntry is one child of an index built by PushOddIndex, with exactly
// the descriptor fields a test gives: set one of Image and Index.
type IndexEntry struct {
	Image v1.Image
	Index v1.ImageIndex
	// Platform is written as given; nil leaves the field out, as containerd
	// and some build tools do.
	Platform    *v1.Platform
	Annotations map[string]string
	// MediaType overrides the descriptor's media type (the child is still
	// pushed as what it is).
	MediaType types.MediaType
}

// PushOddIndex pushes each entry's image or index, then an OCI index whose
// descriptors are written exactly as the entries say, and tags it.
func (h *HostileRegistry) PushOddIndex(tb testing.TB, repoTag string, entries ...IndexEntry) v1.Hash {
	tb.Helper()
	repo, _, _ := strings.Cut(repoTag, ":")
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for i, e := range entries {
		var (
			d    v1.Hash
			size int64
			mt   types.MediaType
			err  error
		)
		switch {
		case e.Image != nil:
			h.Push(tb, fmt.Sprintf("%s:odd-child-%d", repo, i), e.Image)
			d, err = e.Image.Digest()
			if err == nil {
				size, err = e.Image.Size()
			}
			if err == nil {
				mt, err = e.Image.MediaType()
			}
		case e.Index != nil:
			h.PushIndex(tb, fmt.Sprintf("%s:odd-child-%d", repo, i), e.Index)
			d, err = e.Index.Digest()
			if err == nil {
				size, err = e.Index.Size()
			}
			if err == nil {
				mt, err = e.Index.MediaType()
			}
		default:
			tb.Fatalf("index entry %d has neither an image nor an index", i)
		}
		if err != nil {
			tb.Fatal(err)
		}
		if e.MediaType != "" {
			mt = e.MediaType
		}
		idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: mt, Digest: d, Size: size, Platform: e.Platform, Annotations: e.Annotations})
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		tb.Fatal(err)
	}
	ref, err := name.ParseReference(h.Honest.Ref(repoTag), name.WeakValidation)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Put(ref, rawManifest{raw: raw, mediaType: types.OCIImageIndex}, h.Honest.auth()); err != nil {
		tb.Fatalf("push index %s: %v", ref, err)
	}
	d, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	h.Honest.ResetRequests()
	return d
}

// Attestation builds an attestation manifest for subject as BuildKit does
// (an in-toto layer), with the given layers added so that a test can make
// it fail a gate if it were ever judged as an image. Its entry carries the
// platform unknown/unknown and BuildKit's annotations.
func Attestation(subject v1.Hash, layers ...v1.Layer) IndexEntry {
	statement := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[{"name":"fixture","digest":{"sha256":%q}}],"predicate":{}}`, subject.Hex)
	img := Image(Config{OS: "unknown", Architecture: "unknown"}, append([]v1.Layer{Layer(File{Path: "statement.json", Content: statement})}, layers...)...)
	return IndexEntry{
		Image:    img,
		Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{
			"vnd.docker.reference.type":   "attestation-manifest",
			"vnd.docker.reference.digest": subject.String(),
		},
	}
}

// Artifact is an OCI artifact manifest (config media type not an image
// config): no runtime can run it.
func Artifact(content string) v1.Image {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.example.artifact.config.v1+json")
	img, err := mutate.Append(img, mutate.Addendum{Layer: Layer(File{Path: "artifact.txt", Content: content})})
	if err != nil {
		panic(err)
	}
	return img
}

// BlobStorage stands in for the object storage a registry redirects blob
// reads to (S3, GCS): a host of its own that serves the registry's blobs
// without asking for credentials, and records the Authorization headers it
// was sent. A client must send it none: they belong to the registry.
type BlobStorage struct {
	// URL is http://localhost:<port>: another host than the registry's
	// 127.0.0.1:<port>, as far as any client can tell.
	URL string

	mu             sync.Mutex
	requests       int
	authorizations []string
}

// NewBlobStorage serves reg's blobs at a new host for the test.
func NewBlobStorage(tb testing.TB, reg *Registry) *BlobStorage {
	tb.Helper()
	s := &BlobStorage{}
	backend := reg.Server.Config.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.requests++
		if a := req.Header.Get("Authorization"); a != "" {
			s.authorizations = append(s.authorizations, a)
		}
		s.mu.Unlock()
		if !strings.Contains(req.URL.Path, "/blobs/") {
			http.NotFound(w, req)
			return
		}
		inner := req.Clone(req.Context())
		inner.Header.Del("Authorization")
		switch {
		case reg.token != "":
			inner.Header.Set("Authorization", "Bearer "+reg.token)
		case reg.username != "":
			inner.SetBasicAuth(reg.username, reg.password)
		}
		backend.ServeHTTP(w, inner)
	}))
	srv.Config.ErrorLog = discardLogger()
	s.URL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	tb.Cleanup(srv.Close)
	return s
}

// Requests is how many requests the storage served.
func (s *BlobStorage) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Authorizations are the Authorization headers clients sent the storage.
func (s *BlobStorage) Authorizations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.authorizations...)
}

// Package registry turns image references into the exact digests that the
// gates judge: parsing, credentials, transport security, tag -> digest,
// platform selection, manifests and configs. Results are memoised for the
// life of the client (one provider process, one plan), so a plan makes one
// manifest request per unique reference.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options configures a Client.
type Options struct {
	// Registries are the provider's `registry` blocks.
	Registries []RegistryOptions
	// UserAgent is sent with every request.
	UserAgent string
	// Keychain is the fallback for registries without a block; nil means the
	// docker config and its credential helpers.
	Keychain authn.Keychain
	// DialContext replaces the network dialer; tests use it to give a
	// loopback server a non-loopback name. Nil means the default dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Retry is the backoff for 429, 5xx and temporary network errors; the
	// zero value means 4 tries starting at 500ms. A Retry-After longer than
	// the backoff is honoured (see retryTransport).
	Retry remote.Backoff
}

// Client resolves and describes images. It is safe for concurrent use.
type Client struct {
	puller    *remote.Puller
	transport http.RoundTripper
	keychain  authn.Keychain
	insecure  map[string]bool
	userAgent string
	retry     remote.Backoff

	mu        sync.Mutex
	resolved  map[string]*memo[*Resolved]
	images    map[string]*memo[*Image]
	tagHeads  map[string]*memo[v1.Hash]
	manifests map[string]*memo[[]byte]
}

// memo holds one in-flight or finished lookup, so concurrent callers for the
// same key share a single request. Errors are not kept: the next plan step
// that asks again tries again.
type memo[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// New builds a client from the provider's configuration.
func New(opts Options) (*Client, error) {
	regs := map[string]RegistryOptions{}
	for _, r := range opts.Registries {
		host, err := normalizeHost(r.Address)
		if err != nil {
			return nil, err
		}
		if _, dup := regs[host]; dup {
			return nil, fmt.Errorf("registry %q is configured twice", r.Address)
		}
		if r.Token != "" && (r.Username != "" || r.Password != "") {
			return nil, fmt.Errorf("registry %q: set either `token` or `username`/`password`, not both", r.Address)
		}
		if r.Password != "" && r.Username == "" {
			return nil, fmt.Errorf("registry %q: `password` needs `username`", r.Address)
		}
		regs[host] = r
	}
	rt, err := newTransport(regs, opts.DialContext)
	if err != nil {
		return nil, err
	}
	fallback := opts.Keychain
	if fallback == nil {
		fallback = authn.DefaultKeychain
	}
	retry := opts.Retry
	if retry.Steps == 0 {
		retry = remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 4}
	}
	c := &Client{
		transport: &retryTransport{inner: rt, backoff: retry},
		keychain:  keychain{static: regs, fallback: fallback},
		insecure:  rt.insecure,
		userAgent: opts.UserAgent,
		retry:     retry,
		resolved:  map[string]*memo[*Resolved]{},
		images:    map[string]*memo[*Image]{},
		tagHeads:  map[string]*memo[v1.Hash]{},
		manifests: map[string]*memo[[]byte]{},
	}
	c.puller, err = remote.NewPuller(c.RemoteOptions()...)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// RemoteOptions are the go-containerregistry options every other package
// (scanner, verifier, database download) must use, so that credentials,
// transport security, retries and the user agent are the same everywhere.
func (c *Client) RemoteOptions() []remote.Option {
	opts := []remote.Option{
		remote.WithTransport(c.transport),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithRetryBackoff(c.retry),
		// Statuses are retried by retryTransport, which honours Retry-After
		// and the context; go-containerregistry keeps network-error retries.
		remote.WithRetryStatusCodes(),
	}
	if c.userAgent != "" {
		opts = append(opts, remote.WithUserAgent(c.userAgent))
	}
	if c.puller != nil {
		opts = append(opts, remote.Reuse(c.puller))
	}
	return opts
}

// Transport is the shared HTTP transport (per-registry TLS, plain-HTTP
// guard, retries of 429 and 5xx).
func (c *Client) Transport() http.RoundTripper { return c.transport }

// Keychain is the credential chain: provider blocks, then docker config.
func (c *Client) Keychain() authn.Keychain { return c.keychain }

// ParseReference parses tag, digest and tag@digest references (see
// ParseReference in reference.go); registries listed as insecure are
// spoken to over plain HTTP.
func (c *Client) ParseReference(s string) (Reference, error) {
	return parseReference(s, c.insecure)
}

// Resolved is what a reference names right now, fetched from the registry.
type Resolved struct {
	Ref Reference
	// Digest is the digest of the manifest or index the reference names.
	Digest v1.Hash
	// MediaType is that manifest's media type.
	MediaType types.MediaType
	// Manifest is the raw manifest or index.
	Manifest []byte
	// Platforms lists every image of an index that a runtime could run,
	// found by walking it as runtimes do (entries without a platform, nested
	// indexes), sorted by platform; entries for the same platform keep the
	// index's order.
	Platforms []PlatformManifest
	// Attestations are the attestation manifests the walk skipped: they
	// describe images, a runtime never runs them.
	Attestations []v1.Hash
	// TagDigest is what the tag points to now, set only for tag@digest
	// references; when it differs from Digest the digest won.
	TagDigest string
}

// Pinned is registry/repository@digest: the only form gates hand out.
func (r *Resolved) Pinned() name.Digest {
	return r.Ref.Pinned(r.Digest)
}

// IsIndex reports whether the reference names a multi-platform index.
func (r *Resolved) IsIndex() bool { return r.MediaType.IsIndex() }

// Resolve fetches the manifest a reference names: by digest when it carries
// one (go-containerregistry checks the content against it), else by tag.
// One request per unique reference per client.
func (c *Client) Resolve(ctx context.Context, ref Reference) (*Resolved, error) {
	key := ref.Canonical()
	r, err := remember(c, c.resolved, key, func() (*Resolved, error) {
		return c.resolve(ctx, ref)
	})
	if err == nil && !ref.HasDigest() {
		c.rememberByDigest(r)
	}
	return r, err
}

// rememberByDigest records what a tag resolved to under repo@digest as
// well: the content is addressed by its digest, so a later reference to the
// same digest (a gate judging the pinned form) needs no request.
func (c *Client) rememberByDigest(r *Resolved) {
	byDigest := *r
	byDigest.Ref = Reference{Input: r.Pinned().String(), Repository: r.Ref.Repository, Digest: r.Digest}
	key := byDigest.Ref.Canonical()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.resolved[key]; ok {
		return
	}
	byDigest.TagDigest = ""
	m := &memo[*Resolved]{done: make(chan struct{}), val: &byDigest}
	close(m.done)
	c.resolved[key] = m
}

func (c *Client) resolve(ctx context.Context, ref Reference) (*Resolved, error) {
	var target name.Reference
	if ref.HasDigest() {
		target = ref.Pinned(ref.Digest)
	} else {
		target = ref.Repository.Tag(ref.Tag)
	}
	desc, err := c.puller.Get(ctx, target)
	if err != nil {
		return nil, classify(ref.Input, ref.Registry(), err)
	}
	out := &Resolved{Ref: ref, Digest: desc.Digest, MediaType: desc.MediaType, Manifest: desc.Manifest}
	c.storeManifest(ref.Repository, desc.Digest, desc.Manifest)
	if desc.MediaType.IsIndex() {
		if err := c.walkIndex(ctx, out); err != nil {
			return nil, err
		}
	}
	if ref.HasDigest() && ref.Tag != "" {
		tagDigest, err := c.TagDigest(ctx, ref)
		if err != nil {
			return nil, err
		}
		out.TagDigest = tagDigest.String()
	}
	return out, nil
}

// TagDigest asks the registry what the reference's tag points to now (a HEAD
// request, memoised).
func (c *Client) TagDigest(ctx context.Context, ref Reference) (v1.Hash, error) {
	if ref.Tag == "" {
		return v1.Hash{}, fmt.Errorf("reference %s has no tag", ref.Input)
	}
	key := ref.Repository.Tag(ref.Tag).Name()
	return remember(c, c.tagHeads, key, func() (v1.Hash, error) {
		d, err := c.puller.Head(ctx, ref.Repository.Tag(ref.Tag))
		if err != nil {
			return v1.Hash{}, classify(ref.Input, ref.Registry(), err)
		}
		return d.Digest, nil
	})
}

func (c *Client) storeManifest(repo name.Repository, d v1.Hash, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := repo.Name() + "@" + d.String()
	if _, ok := c.manifests[key]; !ok {
		m := &memo[[]byte]{done: make(chan struct{}), val: body}
		close(m.done)
		c.manifests[key] = m
	}
}

// manifest fetches a manifest by digest, verified against it, memoised.
func (c *Client) manifest(ctx context.Context, ref Reference, d v1.Hash) ([]byte, error) {
	key := ref.Repository.Name() + "@" + d.String()
	return remember(c, c.manifests, key, func() ([]byte, error) {
		desc, err := c.puller.Get(ctx, ref.Repository.Digest(d.String()))
		if err != nil {
			return nil, classify(ref.Input, ref.Registry(), err)
		}
		return desc.Manifest, nil
	})
}

// remember runs fn once per key; concurrent callers wait for the first.
func remember[T any](c *Client, table map[string]*memo[T], key string, fn func() (T, error)) (T, error) {
	c.mu.Lock()
	if m, ok := table[key]; ok {
		c.mu.Unlock()
		<-m.done
		if m.err == nil {
			return m.val, nil
		}
		// The first attempt failed: try again on our own.
		return fn()
	}
	m := &memo[T]{done: make(chan struct{})}
	table[key] = m
	c.mu.Unlock()

	m.val, m.err = fn()
	if m.err != nil {
		c.mu.Lock()
		delete(table, key)
		c.mu.Unlock()
	}
	close(m.done)
	return m.val, m.err
}

// Image is one runnable image: its manifest, its config and the facts the
// gates judge.
type Image struct {
	// Digest is the image manifest's digest (the platform manifest for an index).
	Digest    v1.Hash
	MediaType types.MediaType
	Platform  string
	Manifest  *v1.Manifest
	Config    *v1.ConfigFile
	// RawConfig is the config blob as stored.
	RawConfig []byte
}

// Size is the sum of the compressed layer sizes.
func (i *Image) Size() int64 {
	var n int64
	for _, l := range i.Manifest.Layers {
		n += l.Size
	}
	return n
}

// Image returns the image for a platform ("" means linux/amd64 for an index,
// and the image itself otherwise), with its config. Memoised by digest.
func (c *Client) Image(ctx context.Context, r *Resolved, platform string) (*Image, error) {
	manifestDigest := r.Digest
	body := r.Manifest
	if r.IsIndex() {
		want := platform
		if want == "" {
			want = DefaultPlatform
		}
		pm, err := r.selectPlatform(want)
		if err != nil {
			return nil, err
		}
		manifestDigest = pm.Digest
		body = nil
	}
	img, err := c.ImageByDigest(ctx, r.Ref, manifestDigest, body)
	if err != nil {
		return nil, err
	}
	if platform != "" && !r.IsIndex() {
		p, err := ParsePlatform(platform)
		if err != nil {
			return nil, &Error{Kind: KindPlatform, Ref: r.Ref.Input, Message: err.Error()}
		}
		if !platformMatches(p, &v1.Platform{OS: img.Config.OS, Architecture: img.Config.Architecture, Variant: img.Config.Variant}) {
			return nil, &Error{Kind: KindPlatform, Ref: r.Ref.Input, Message: fmt.Sprintf("Platform %q is not provided by %s (%s): it is a single-platform image for %s. Remove `platform` or use a matching one.", platform, r.Ref.Input, r.Digest, img.Platform)}
		}
	}
	return img, nil
}

// ImageByDigest fetches an image manifest (unless its body is given) and its
// config, memoised by digest.
func (c *Client) ImageByDigest(ctx context.Context, ref Reference, d v1.Hash, body []byte) (*Image, error) {
	key := ref.Repository.Name() + "@" + d.String()
	return remember(c, c.images, key, func() (*Image, error) {
		var err error
		if body == nil {
			body, err = c.manifest(ctx, ref, d)
			if err != nil {
				return nil, err
			}
		}
		m, err := v1.ParseManifest(strings.NewReader(string(body)))
		if err != nil {
			return nil, &Error{Kind: KindServer, Ref: ref.Input, Registry: ref.Registry(), Err: err, Message: fmt.Sprintf("The manifest %s of %s does not parse: %v", d, ref.Input, err)}
		}
		if !m.MediaType.IsImage() && m.MediaType != "" {
			return nil, &Error{Kind: KindServer, Ref: ref.Input, Registry: ref.Registry(), Message: fmt.Sprintf("%s (%s) is a %s, not a container image.", ref.Input, d, m.MediaType)}
		}
		layer, err := c.puller.Layer(ctx, ref.Repository.Digest(m.Config.Digest.String()))
		if err != nil {
			return nil, classify(ref.Input, ref.Registry(), err)
		}
		raw, err := readVerified(layer, m.Config.Digest)
		if err != nil {
			return nil, classify(ref.Input, ref.Registry(), err)
		}
		var cfg v1.ConfigFile
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, &Error{Kind: KindServer, Ref: ref.Input, Registry: ref.Registry(), Err: err, Message: fmt.Sprintf("The config %s of %s does not parse: %v", m.Config.Digest, ref.Input, err)}
		}
		return &Image{
			Digest:    d,
			MediaType: m.MediaType,
			Platform:  platformString(&v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}),
			Manifest:  m,
			Config:    &cfg,
			RawConfig: raw,
		}, nil
	})
}

// readVerified reads a blob in full and checks it against its digest.
func readVerified(l v1.Layer, want v1.Hash) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxConfigSize {
		return nil, fmt.Errorf("config blob %s is larger than %d bytes", want, maxConfigSize)
	}
	got, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, &integrityError{msg: fmt.Sprintf("config blob %s: the registry sent %d bytes whose digest is %s", want, len(raw), got)}
	}
	return raw, nil
}

// maxConfigSize bounds what we read for an image config.
const maxConfigSize = 8 << 20

// RawManifest returns an image manifest by digest, verified and memoised.
func (c *Client) RawManifest(ctx context.Context, ref Reference, d v1.Hash) ([]byte, error) {
	return c.manifest(ctx, ref, d)
}

// IsInsecure reports whether a registry host is listed as insecure.
func (c *Client) IsInsecure(host string) bool { return c.insecure[host] }

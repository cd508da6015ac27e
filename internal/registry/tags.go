package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// Bounds of one tag listing. go-containerregistry's remote.List follows
// Link pages with no bound: a registry whose Link leads back to a page read
// already, or that sends pages forever, would hold a plan until its
// timeout and fill memory on the way.
const (
	// MaxTags is the most tags a listing reads.
	MaxTags = 10000
	// MaxTagPages is the most pages a listing follows.
	MaxTagPages = 1000
	// maxTagPageBytes bounds one page's body (10,000 tags of 128 characters
	// are 1.4 MB).
	maxTagPageBytes = 4 << 20
	// tagPageSize is the page size asked for (`n=`); registries may send less.
	tagPageSize = 1000
)

// ErrTagListBound marks a listing stopped by one of its bounds.
var ErrTagListBound = errors.New("tag listing bound reached")

// ListTags lists a repository's tags in the registry's order, following
// the `Link` header across pages (same host only, as go-containerregistry
// checks), within MaxTags, MaxTagPages and a bound on each page's size.
// Past a bound it fails with an error that names the repository and
// wraps ErrTagListBound: a partial list is never returned.
func (c *Client) ListTags(ctx context.Context, repo name.Repository) ([]string, error) {
	ref := repo.Name()
	limited := &pageLimit{inner: c.transport, max: maxTagPageBytes}
	opts := []remote.Option{
		remote.WithTransport(limited),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithRetryBackoff(c.retry),
		remote.WithRetryStatusCodes(),
		remote.WithPageSize(tagPageSize),
		remote.WithContext(ctx),
	}
	if c.userAgent != "" {
		opts = append(opts, remote.WithUserAgent(c.userAgent))
	}
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, classify(ref, repo.RegistryStr(), err)
	}
	failed := func(err error) error {
		if limited.exceeded.Load() {
			return c.boundError(repo, fmt.Sprintf("sent a tag-list page over %d MiB", maxTagPageBytes>>20))
		}
		return classify(ref, repo.RegistryStr(), err)
	}
	lister, err := puller.Lister(ctx, repo)
	if err != nil {
		return nil, failed(err)
	}
	var tags []string
	seen := map[string]bool{}
	for pages := 1; lister.HasNext(); pages++ {
		page, err := lister.Next(ctx)
		if err != nil {
			return nil, failed(err)
		}
		tags = append(tags, page.Tags...)
		if len(tags) > MaxTags {
			return nil, &Error{Kind: KindServer, Ref: ref, Registry: repo.RegistryStr(), Err: ErrTagListBound, Message: fmt.Sprintf(
				"Repository %s has more than %d tags; imageguard stops listing there rather than read an unbounded list (a `filter` applies after listing, so it cannot narrow what is read). "+
					"Delete tags no one deploys (a retention policy), or publish release tags to a repository of their own.", ref, MaxTags)}
		}
		if page.Next == "" {
			break
		}
		if seen[page.Next] {
			return nil, c.boundError(repo, "sent a `Link` to a tag-list page it had already sent (a pagination loop)")
		}
		seen[page.Next] = true
		if pages >= MaxTagPages {
			return nil, c.boundError(repo, fmt.Sprintf("sent more than %d pages of tags", MaxTagPages))
		}
	}
	tflog.SubsystemDebug(ctx, LogSubsystem, "tags listed", map[string]any{"repository": ref, "tags": len(tags), "pages": len(seen) + 1})
	return tags, nil
}

func (c *Client) boundError(repo name.Repository, what string) error {
	return &Error{Kind: KindServer, Ref: repo.Name(), Registry: repo.RegistryStr(), Err: ErrTagListBound, Message: fmt.Sprintf(
		"Registry %s %s while listing the tags of %s; imageguard stops rather than read without end. The registry is misbehaving: report it to its operator, or list a mirror of the repository.",
		repo.RegistryStr(), what, repo.Name())}
}

// TagDigests resolves each tag of repo to the digest it names now (a HEAD
// request each, memoised, at most `parallel` at once) and returns them in
// the order of tags. The first failure ends the work.
func (c *Client) TagDigests(ctx context.Context, repo name.Repository, tags []string, parallel int) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]string, len(tags))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i, tag := range tags {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ref := Reference{Input: repo.Tag(tag).Name(), Repository: repo, Tag: tag}
			d, err := c.TagDigest(ctx, ref)
			if err != nil {
				once.Do(func() { first = err; cancel() })
				return
			}
			out[i] = d.String()
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, classify(repo.Name(), repo.RegistryStr(), err)
	}
	return out, nil
}

// pageLimit fails a response body past max bytes and remembers it did.
type pageLimit struct {
	inner    http.RoundTripper
	max      int64
	exceeded atomic.Bool
}

func (p *pageLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.inner.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: p.max, limit: p}
	return resp, nil
}

type limitedBody struct {
	io.ReadCloser
	left  int64
	limit *pageLimit
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.ReadCloser.Read(one[:]); n == 0 && err != nil {
			return 0, err // ended exactly at the bound
		}
		b.limit.exceeded.Store(true)
		return 0, fmt.Errorf("response body over %d bytes", b.limit.max)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// IsTagListBound reports whether err is a listing stopped by its bounds.
func IsTagListBound(err error) bool { return errors.Is(err, ErrTagListBound) }

package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const (
	// maxReferrers bounds the entries of one referrers listing (all pages)
	// and the layers of a legacy signature tag. Past it the verification
	// fails with a message instead of judging part of the list: a flood of
	// junk entries must not hide the real signature.
	maxReferrers = 1000
	// maxReferrerPages bounds the pages followed for one listing, so that a
	// registry answering with empty pages and a next link forever ends.
	maxReferrerPages = 100
	// maxReferrerPageSize bounds one page's body (go-containerregistry's
	// own manifest limit is 100 MiB; a thousand descriptors fit in 1 MiB).
	maxReferrerPageSize = 4 << 20
)

// errTooManyReferrerPages is a listing that did not end within
// maxReferrerPages pages.
var errTooManyReferrerPages = fmt.Errorf("the registry's referrers listing did not end within %d pages", maxReferrerPages)

// referrersPager follows the pages of an OCI referrers API listing (a
// `Link: <…>; rel="next"` header, as the distribution spec allows), which
// go-containerregistry's remote.Referrers does not: it returns the first
// page, so a signature on a later page went unseen. It sits under
// go-containerregistry's authenticating transport, so each page request
// carries the first one's headers (credentials included) and is sent only
// to the same host. Pages are merged into one index, up to maxReferrers+1
// entries: the caller sees that the bound was passed.
type referrersPager struct{ inner http.RoundTripper }

func (p *referrersPager) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.inner.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !isReferrersPath(req.URL.Path) || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	next, ok := nextLink(resp.Header.Values("Link"))
	if !ok {
		return resp, nil
	}
	first, err := readPage(resp)
	if err != nil {
		return nil, err
	}
	merged := first
	seen := map[string]bool{req.URL.String(): true}
	at := req.URL
	for pages := 1; ok && len(merged.Manifests) <= maxReferrers; pages++ {
		if pages >= maxReferrerPages {
			return nil, errTooManyReferrerPages
		}
		u, err := at.Parse(next)
		if err != nil {
			return nil, fmt.Errorf("the registry's next referrers page link %q is not a URL: %w", next, err)
		}
		if u.Scheme != at.Scheme || u.Host != at.Host {
			return nil, fmt.Errorf("the registry's next referrers page link points to %s, not to the registry %s; not followed", u.Redacted(), at.Host)
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("the registry's referrers pages link back to %s (a loop)", u.Redacted())
		}
		seen[u.String()] = true
		preq, err := http.NewRequestWithContext(req.Context(), http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		preq.Header = req.Header.Clone()
		presp, err := p.inner.RoundTrip(preq)
		if err != nil {
			return nil, err
		}
		if presp.StatusCode != http.StatusOK {
			presp.Body.Close()
			return nil, fmt.Errorf("reading referrers page %s: the registry answered %s", u.Redacted(), presp.Status)
		}
		next, ok = nextLink(presp.Header.Values("Link"))
		page, err := readPage(presp)
		if err != nil {
			return nil, err
		}
		merged.Manifests = append(merged.Manifests, page.Manifests...)
		at = u
	}
	body, err := json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	resp.Header.Del("Link")
	resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
	resp.ContentLength = int64(len(body))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// readPage reads and closes one page of a referrers listing.
func readPage(resp *http.Response) (*v1.IndexManifest, error) {
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReferrerPageSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxReferrerPageSize {
		return nil, fmt.Errorf("a referrers page is larger than %d bytes", maxReferrerPageSize)
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("a referrers page is not an image index: %w", err)
	}
	return m, nil
}

// isReferrersPath reports whether path is /v2/<name>/referrers/<digest>.
func isReferrersPath(path string) bool {
	if !strings.HasPrefix(path, "/v2/") {
		return false
	}
	parts := strings.Split(strings.TrimSuffix(path, "/"), "/")
	return len(parts) >= 5 && parts[len(parts)-2] == "referrers"
}

// nextLink finds the target of rel="next" in Link header values (RFC 8288:
// `<url>; rel="next"`, several links separated by commas).
func nextLink(values []string) (string, bool) {
	for _, v := range values {
		for rest := strings.TrimSpace(v); rest != ""; {
			if rest[0] != '<' {
				break
			}
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				break
			}
			target := rest[1:end]
			params := rest[end+1:]
			rest = ""
			if i := strings.IndexByte(params, ','); i >= 0 {
				params, rest = params[:i], strings.TrimSpace(params[i+1:])
			}
			for _, p := range strings.Split(params, ";") {
				k, val, found := strings.Cut(strings.TrimSpace(p), "=")
				if !found || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") && target != "" {
						return target, true
					}
				}
			}
		}
	}
	return "", false
}

// tooManyReferrers words a listing past maxReferrers.
func (r *run) tooManyReferrers(loc string) error {
	return fmt.Errorf("the %s of %s lists more than %d entries, the most imageguard examines: it refuses to judge part of a listing, since junk entries could hide the real signature. "+
		"Delete the referrers of this digest that are no longer needed (old signatures and attestations, other artifacts), or sign and deploy a fresh image", loc, r.target, maxReferrers)
}

// referrersListingError words an error of the paging transport.
func (r *run) referrersListingError(err error) error {
	if errors.Is(err, errTooManyReferrerPages) {
		return fmt.Errorf("listing referrers of %s: %w, more than imageguard follows; the listing is refused rather than judged in part, since junk entries could hide the real signature", r.target, errTooManyReferrerPages)
	}
	return fmt.Errorf("listing referrers of %s: %w", r.target, err)
}

var _ http.RoundTripper = (*referrersPager)(nil)

// pagerOver wraps a base transport; nil means go-containerregistry's default.
func pagerOver(base http.RoundTripper) *referrersPager {
	if base == nil {
		base = remote.DefaultTransport
	}
	return &referrersPager{inner: base}
}

package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// maxRetryAfter is the longest Retry-After that is honoured. A registry that
// asks for longer fails the read at once instead of stalling the plan.
const maxRetryAfter = time.Minute

// retryStatus are the answers worth asking again: the registry is busy,
// rate-limiting or briefly broken.
var retryStatus = map[int]bool{
	http.StatusRequestTimeout:      true,
	http.StatusTooManyRequests:     true,
	http.StatusInternalServerError: true,
	http.StatusBadGateway:          true,
	http.StatusServiceUnavailable:  true,
	http.StatusGatewayTimeout:      true,
}

// retryTransport retries reads (GET, HEAD) that a registry answered with
// 408, 429 or 5xx. It waits as long as the registry's Retry-After asks (up to
// maxRetryAfter), else by the client's backoff, and never past the request
// context's deadline: when the wait would pass it, it stops at once.
// go-containerregistry's own retries ignore Retry-After and sleep without
// looking at the context, so the client turns its status retries off and
// keeps only its retries of network errors.
type retryTransport struct {
	inner   http.RoundTripper
	backoff remote.Backoff
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if (req.Method != http.MethodGet && req.Method != http.MethodHead) || (req.Body != nil && req.Body != http.NoBody) {
		return t.inner.RoundTrip(req)
	}
	ctx := req.Context()
	b := t.backoff
	tries := max(b.Steps, 1)
	for try := 1; ; try++ {
		resp, err := t.inner.RoundTrip(req)
		if err != nil || !retryStatus[resp.StatusCode] {
			return resp, err
		}
		asked, hasAsked := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		wait := b.Step()
		if hasAsked && asked > wait {
			wait = asked
		}
		stop := ""
		switch {
		case try >= tries:
		case hasAsked && asked > maxRetryAfter:
			stop = fmt.Sprintf("it asked to retry after %s, longer than imageguard waits (%s)", asked, maxRetryAfter)
		case deadlineWithin(ctx, wait):
			stop = fmt.Sprintf("waiting %s for the next try would pass the provider's `timeout`", wait.Round(time.Millisecond))
		}
		if try >= tries || stop != "" {
			return nil, newStatusError(resp, try, asked, stop)
		}
		drain(resp)
		repo, kind := describePath(req.URL.Path)
		tflog.SubsystemDebug(ctx, LogSubsystem, "registry request retried", map[string]any{
			"registry": req.URL.Host, "repository": repo, "kind": kind, "status": resp.StatusCode,
			"try": try, "wait_ms": wait.Milliseconds(), "retry_after_ms": asked.Milliseconds(),
		})
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

func deadlineWithin(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) < d
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		const longest = int64(365 * 24 * time.Hour / time.Second) // no overflow
		return time.Duration(min(n, longest)) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// statusError is a retryable answer that kept coming back: the registry's
// own error, how often it came and, when imageguard stopped early, why.
type statusError struct {
	status     int
	tries      int
	retryAfter time.Duration
	stopped    string
	err        *transport.Error
}

func newStatusError(resp *http.Response, tries int, retryAfter time.Duration, stopped string) *statusError {
	e := &statusError{status: resp.StatusCode, tries: tries, retryAfter: retryAfter, stopped: stopped}
	var terr *transport.Error
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		if te, ok := err.(*transport.Error); ok {
			terr = te
		}
	}
	_ = resp.Body.Close()
	if terr == nil {
		terr = &transport.Error{StatusCode: resp.StatusCode}
	}
	e.err = terr
	return e
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("answered %d %s", e.status, http.StatusText(e.status))
	if e.tries > 1 {
		s += fmt.Sprintf(" %d times", e.tries)
	}
	if e.stopped != "" {
		s += "; stopped retrying: " + e.stopped
	}
	if d := registryDetail(e.err); d != "" {
		s += " (" + d + ")"
	}
	return s
}

func (e *statusError) Unwrap() error { return e.err }

// registryDetail is the registry's own error codes and messages, without
// the request URL (which may carry a signed query string).
func registryDetail(terr *transport.Error) string {
	if terr == nil {
		return ""
	}
	var parts []string
	for _, d := range terr.Errors {
		p := string(d.Code)
		if d.Message != "" {
			p += ": " + d.Message
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

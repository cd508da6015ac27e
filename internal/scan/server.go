package scan

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/samber/lo"
	"github.com/twitchtv/twirp"

	"github.com/aquasecurity/trivy/pkg/cache"
	artimage "github.com/aquasecurity/trivy/pkg/fanal/artifact/image"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	r "github.com/aquasecurity/trivy/pkg/rpc"
	rpcclient "github.com/aquasecurity/trivy/pkg/rpc/client"
	trivyscan "github.com/aquasecurity/trivy/pkg/scan"
	"github.com/aquasecurity/trivy/pkg/types"
	xhttp "github.com/aquasecurity/trivy/pkg/x/http"
	xstrings "github.com/aquasecurity/trivy/pkg/x/strings"
	"github.com/aquasecurity/trivy/rpc/common"
	rpc "github.com/aquasecurity/trivy/rpc/scanner"

	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// ServerOptions configure a shared `trivy server`.
type ServerOptions struct {
	URL string
	// Token is sent in TokenHeader (default "Trivy-Token"), as Trivy's
	// client does. Never logged.
	Token         string
	TokenHeader   string
	CustomHeaders map[string]string
	CACertPEM     string
	Insecure      bool
	// MaxAge bounds the server database's age, as for a local database.
	MaxAge time.Duration
	Now    func() time.Time
	// DialContext replaces the dialer (tests).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// FleetCacheKey, when set, is the secret the server's layer cache keys
	// are derived from, shared by the workers that trust each other's layer
	// analyses (`fleet_cache_key`): whoever holds it and the token can make
	// those workers pass an image. Never logged. Empty: the worker's own
	// key, kept in CacheDir, and analyses are reused only by this worker.
	FleetCacheKey string
	// CacheDir keeps the worker's own layer-key secret across runs
	// (`vulnerability_db.cache_dir`); empty: a new secret for each process.
	CacheDir string
}

// Server scans through a `trivy server`: the worker reads layers from the
// registry and analyses only those the server's cache lacks (Trivy's remote
// cache), and the server detects vulnerabilities with its database. No local
// database is downloaded or opened.
//
// The server's cache is keyed by keys only this worker (or, with
// FleetCacheKey, the fleet) can compute (layerkeys.go): another client that
// holds the token cannot store an analysis this worker will use.
//
// The server's database is checked for every scan, on the connection that
// carries the scan: Trivy's scan response says nothing about the database
// that answered, so /version is asked right before and right after the Scan
// call over one pinned connection (a replica behind a TCP load balancer is
// the same for all three), and both answers must be within max_age.
type Server struct {
	opts      ServerOptions
	url       string
	headers   http.Header
	transport *http.Transport
	client    *http.Client

	claims *layerClaims
	keys   *layerKeys
}

// CheckServerURL checks a `scanner_server` URL: http(s), a host, and no
// user:password (credentials go in `token`, which is never shown). Errors
// never echo the password.
func CheckServerURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the scanner_server url %q is not an http(s) URL such as \"https://trivy.example.com:4954\"", RedactURL(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("the scanner_server url %s carries credentials (user:password@): a URL is shown in messages and logs, so credentials do not belong in it. "+
			"Remove them from `url` and give the server's token in `token` (sent in `token_header`, default Trivy-Token), which is sensitive and never shown", RedactURL(raw))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("the scanner_server url %s has a query or fragment, which Trivy's API does not take and which messages would show: "+
			"give a token in `token`, and other request headers in `custom_headers`", RedactURL(raw))
	}
	return u, nil
}

// RedactURL returns raw with any user:password replaced by "***", and with
// no query or fragment, for messages.
func RedactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// Unparsable: keep the scheme and whatever follows the last '@'.
		s := strings.TrimSpace(raw)
		rest, scheme := s, ""
		if i := strings.Index(s, "://"); i >= 0 {
			scheme, rest = s[:i+3], s[i+3:]
		}
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			rest = "***@" + rest[i+1:]
		}
		if i := strings.IndexAny(rest, "?#"); i >= 0 {
			rest = rest[:i]
		}
		return scheme + rest
	}
	hadUser := u.User != nil
	u.User = nil
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	out := u.String()
	if hadUser && u.Scheme != "" {
		out = strings.Replace(out, u.Scheme+"://", u.Scheme+"://***@", 1)
	}
	return out
}

// NewServer checks the options and builds the back end. It does not
// contact the server.
func NewServer(opts ServerOptions) (*Server, error) {
	u, err := CheckServerURL(opts.URL)
	if err != nil {
		return nil, err
	}
	if n := len(opts.FleetCacheKey); n > 0 && n < MinFleetCacheKeyLength {
		return nil, &FleetCacheKeyError{fmt.Sprintf("the scanner_server fleet_cache_key has %d characters; give at least %d random ones (e.g. from `openssl rand -hex 32`): "+
			"anyone with the token can test guesses against the server's cache", n, MinFleetCacheKeyLength)}
	}
	if k := opts.FleetCacheKey; k != "" {
		shared := k == opts.Token
		for _, v := range opts.CustomHeaders {
			shared = shared || strings.Contains(v, k)
		}
		if shared {
			return nil, &FleetCacheKeyError{"the scanner_server fleet_cache_key is the token (or part of a custom header), which every client of the server holds: " +
				"it would let any of them make the fleet pass an image. Give the fleet a secret of its own, e.g. from `openssl rand -hex 32`"}
		}
	}
	if u.Scheme == "http" && !registry.IsLoopback(u.Host) && !opts.Insecure {
		return nil, fmt.Errorf("the scanner_server url %s uses plain HTTP, which is allowed only on loopback: the token and the image analysis would cross the network unencrypted. Serve Trivy over HTTPS (with `ca_cert_pem` for a private CA) or set `insecure = true` if you accept that", u)
	}
	if opts.TokenHeader == "" {
		opts.TokenHeader = "Trivy-Token"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	if def, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = def.Clone()
	}
	if opts.DialContext != nil {
		tr.DialContext = opts.DialContext
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CACertPEM != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(opts.CACertPEM)) {
			return nil, errors.New("the scanner_server ca_cert_pem holds no PEM certificate")
		}
		tlsCfg.RootCAs = pool
	}
	if opts.Insecure {
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // the user chose insecure for this server
	}
	tr.TLSClientConfig = tlsCfg
	headers := http.Header{}
	for k, v := range opts.CustomHeaders {
		headers.Set(k, v)
	}
	if opts.Token != "" {
		headers.Set(opts.TokenHeader, opts.Token)
	}
	base := strings.TrimSuffix(u.String(), "/")
	s := &Server{opts: opts, url: base, headers: headers, transport: tr, claims: newLayerClaims(), keys: newLayerKeys(opts.FleetCacheKey, opts.CacheDir)}
	s.client = &http.Client{Transport: redirectGuard{rt: tr, server: base}}
	return s, nil
}

// FleetCacheKeyError is a fleet_cache_key that would not keep token
// holders out. It never shows the key.
type FleetCacheKeyError struct{ msg string }

func (e *FleetCacheKeyError) Error() string { return e.msg }

// URL is the server's address, for messages.
func (s *Server) URL() string { return s.url }

// DB reads the server's database metadata from its /version endpoint and
// applies max_age to it, exactly as to a local database. It asks on every
// call: the server updates its database while it runs, and replicas behind
// one URL may differ.
func (s *Server) DB(ctx context.Context) (DBInfo, error) {
	v, err := s.version(ctx, s.client)
	if err != nil {
		return DBInfo{}, err
	}
	if err := s.fresh(v.DBInfo, ""); err != nil {
		return DBInfo{}, err
	}
	return v.DBInfo, nil
}

// fresh applies max_age to a database the server reported.
func (s *Server) fresh(db DBInfo, when string) error {
	now := s.opts.Now()
	if ahead := db.UpdatedAt.Sub(now); ahead > vulndb.MaxClockSkew {
		// A database from the future would never look stale: never trusted.
		return &serverError{fmt.Sprintf("the Trivy server %s%s reports a vulnerability database updated at %s, %s after this machine's clock (%s): a database from the future is never trusted. "+
			"Check the server's clock and the repository its database came from, and this machine's clock.", s.url, when, db.UpdatedAt.UTC().Format(time.RFC3339), roundAge(ahead), now.UTC().Format(time.RFC3339))}
	}
	age := now.Sub(db.UpdatedAt)
	if s.opts.MaxAge <= 0 || age <= s.opts.MaxAge {
		return nil
	}
	replicas := ""
	if when != "" {
		replicas = " With several replicas behind one URL, the one that answered is behind the others."
	}
	return &serverError{fmt.Sprintf("the vulnerability database of the Trivy server %s%s was updated %s ago (at %s), which is older than max_age (%s). "+
		"The server updates its database itself unless started with --skip-db-update: check its logs and its access to the database repository (or its mirror), or raise max_age.%s",
		s.url, when, roundAge(age), db.UpdatedAt.UTC().Format(time.RFC3339), s.opts.MaxAge, replicas)}
}

// serverError is a message about the server that is complete as it is:
// it reaches the user without Trivy's wrapping.
type serverError struct{ msg string }

func (e *serverError) Error() string { return e.msg }

// redirectGuard refuses every redirect from the scanner server, before
// net/http or Twirp can follow it: the token (a custom header, which
// net/http forwards across hosts) must never reach another address.
type redirectGuard struct {
	rt     http.RoundTripper
	server string
}

func (g redirectGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.rt.RoundTrip(req)
	if err != nil || resp.StatusCode < 300 || resp.StatusCode > 399 || resp.StatusCode == http.StatusNotModified {
		return resp, err
	}
	target := "(no Location given)"
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, perr := req.URL.Parse(loc); perr == nil {
			target = RedactURL(u.String())
		} else {
			target = RedactURL(loc)
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	return nil, &RedirectError{Server: g.server, Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, Target: target}
}

// RedirectError is a redirect the scanner server answered with, which
// imageguard does not follow.
type RedirectError struct {
	Server, Method, Path string
	Status               int
	// Target is the redirect's Location without credentials or query.
	Target string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("the Trivy server %s answered %s %s with %d %s, redirecting to %s. imageguard never follows a redirect from the scanner server, so that the token and the image analysis go only to the configured URL: "+
		"set `url` to the address that serves Trivy directly",
		e.Server, e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Target)
}

func roundAge(d time.Duration) string {
	if d > 48*time.Hour {
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
	return d.Round(time.Minute).String()
}

// serverDB is what /version says about the server's database.
type serverDB struct {
	DBInfo
	// downloadedAt tells apart replicas that hold the same database.
	downloadedAt time.Time
}

func (a serverDB) same(b serverDB) bool {
	return a.SchemaVersion == b.SchemaVersion && a.UpdatedAt.Equal(b.UpdatedAt) && a.downloadedAt.Equal(b.downloadedAt)
}

func (s *Server) version(ctx context.Context, client *http.Client) (serverDB, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/version", http.NoBody)
	if err != nil {
		return serverDB{}, err
	}
	for k, v := range s.headers {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		var re *RedirectError
		if errors.As(err, &re) {
			return serverDB{}, re
		}
		return serverDB{}, s.transportError(err)
	}
	defer func() {
		// Read to the end so that the connection is reused for the scan.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return serverDB{}, s.unauthorized()
	}
	if resp.StatusCode != http.StatusOK {
		return serverDB{}, &serverError{fmt.Sprintf("the Trivy server %s answered %d %s on /version: is this a `trivy server` (Trivy ≥ 0.59)? Check the URL and the server's logs", s.url, resp.StatusCode, http.StatusText(resp.StatusCode))}
	}
	var info types.VersionInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info); err != nil {
		return serverDB{}, &serverError{fmt.Sprintf("the Trivy server %s sent version information that does not parse (%v): check that the URL points at a `trivy server`", s.url, err)}
	}
	if info.VulnerabilityDB == nil || info.VulnerabilityDB.UpdatedAt.IsZero() {
		return serverDB{}, &serverError{fmt.Sprintf("the Trivy server %s (version %s) reports no vulnerability database: it may still be downloading one. Wait for it, or check its logs", s.url, orUnknown(info.Version))}
	}
	return serverDB{
		DBInfo: DBInfo{DB: report.DB{
			SchemaVersion: info.VulnerabilityDB.Version,
			UpdatedAt:     info.VulnerabilityDB.UpdatedAt,
			NextUpdate:    info.VulnerabilityDB.NextUpdate,
			Source:        fmt.Sprintf("trivy server %s (Trivy %s)", s.url, orUnknown(info.Version)),
		}},
		downloadedAt: info.VulnerabilityDB.DownloadedAt,
	}, nil
}

// pinnedClient is a client with one connection to the server, for one
// scan's /version, Scan, /version sequence.
func (s *Server) pinnedClient() (*http.Client, func()) {
	tr := s.transport.Clone()
	tr.MaxConnsPerHost = 1
	tr.MaxIdleConnsPerHost = 1
	return &http.Client{Transport: redirectGuard{rt: tr, server: s.url}}, tr.CloseIdleConnections
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Scan analyses the image on this worker, uploading to the server's cache
// only the blobs it lacks (scrubbed of secret text) under this worker's
// keys, then asks the server to detect, checking the database that
// answered.
func (s *Server) Scan(ctx context.Context, img ftypes.Image, opts Options) (types.Report, DBInfo, error) {
	key, err := s.keys.mapper(ctx)
	if err != nil {
		return types.Report{}, DBInfo{}, err
	}
	tctx := xhttp.WithTransport(ctx, fixedTransport{rt: s.client.Transport})
	remoteCache := cache.NewRemoteCache(tctx, cache.RemoteOptions{ServerAddr: s.url, CustomHeaders: s.headers})
	claiming := s.claims.wrap(scrubbingCache{keyedCache{ArtifactCache: remoteCache, key: key}})
	defer claiming.releaseAll()
	art, err := artimage.NewArtifact(img, claiming, ArtifactOption(opts))
	if err != nil {
		return types.Report{}, DBInfo{}, fmt.Errorf("preparing the image for analysis: %w", err)
	}
	pinned, closeIdle := s.pinnedClient()
	defer closeIdle()
	backend := &rpcScanner{client: rpc.NewScannerProtobufClient(s.url, pinned), headers: s.headers, server: s, http: pinned, key: key}
	report, err := trivyscan.NewService(backend, art).ScanArtifact(ctx, ScanOptions(opts))
	if err != nil {
		return types.Report{}, DBInfo{}, s.rpcError(err)
	}
	if !backend.checked {
		return types.Report{}, DBInfo{}, &serverError{fmt.Sprintf("the Trivy server %s was not asked to scan, so its database was not checked; this is a bug in imageguard", s.url)}
	}
	return report, backend.answered, nil
}

// fixedTransport hands Trivy's HTTP helpers our transport (TLS settings,
// dialer) instead of their process-global default.
type fixedTransport struct{ rt http.RoundTripper }

func (f fixedTransport) Build(...xhttp.TransportOption) http.RoundTripper { return f.rt }

// rpcScanner is Trivy's RPC scanner client (rpc/client.Service) with our
// HTTP client: the same request, the same conversions; and around the call,
// on the same connection, the database check.
type rpcScanner struct {
	client  rpc.Scanner
	headers http.Header
	server  *Server
	http    *http.Client
	// key turns Trivy's cache keys into the worker's, as keyedCache does.
	key func(string) string

	checked  bool
	answered DBInfo
}

func (c *rpcScanner) Scan(ctx context.Context, target, artifactKey string, blobKeys []string, opts types.ScanOptions) (types.ScanResponse, error) {
	before, err := c.server.version(ctx, c.http)
	if err != nil {
		return types.ScanResponse{}, err
	}
	if err := c.server.fresh(before.DBInfo, " (asked on the connection of this scan)"); err != nil {
		return types.ScanResponse{}, err
	}
	resp, err := c.scan(ctx, target, artifactKey, blobKeys, opts)
	if err != nil {
		return types.ScanResponse{}, err
	}
	after, err := c.server.version(ctx, c.http)
	if err != nil {
		return types.ScanResponse{}, err
	}
	if err := c.server.fresh(after.DBInfo, " (asked on the connection of this scan)"); err != nil {
		return types.ScanResponse{}, err
	}
	c.checked, c.answered = true, before.DBInfo
	if !before.same(after) {
		// The database changed during the scan (an update, or another
		// replica): both are fresh, but the report is tied to neither.
		if after.UpdatedAt.Before(before.UpdatedAt) {
			c.answered = after.DBInfo
		}
		c.answered.mixed = true
	}
	return resp, nil
}

func (c *rpcScanner) scan(ctx context.Context, target, artifactKey string, blobKeys []string, opts types.ScanOptions) (types.ScanResponse, error) {
	ctx = rpcclient.WithCustomHeaders(ctx, c.headers)
	artifactKey = c.key(artifactKey)
	blobKeys = slices.Clone(blobKeys)
	for i, k := range blobKeys {
		blobKeys[i] = c.key(k)
	}
	res, err := r.Retry(ctx, func() (*rpc.ScanResponse, error) {
		return c.client.Scan(ctx, &rpc.ScanRequest{
			Target:     target,
			ArtifactId: artifactKey,
			BlobIds:    blobKeys,
			Options: &rpc.ScanOptions{
				PkgTypes:            opts.PkgTypes,
				PkgRelationships:    xstrings.ToStringSlice(opts.PkgRelationships),
				Scanners:            xstrings.ToStringSlice(opts.Scanners),
				IncludeDevDeps:      opts.IncludeDevDeps,
				VulnSeveritySources: xstrings.ToStringSlice(opts.VulnSeveritySources),
			},
		})
	})
	if err != nil {
		return types.ScanResponse{}, err
	}
	return types.ScanResponse{
		Results: r.ConvertFromRPCResults(res.Results),
		OS:      r.ConvertFromRPCOS(res.Os),
		Layers: slices.Collect(func(yield func(ftypes.Layer) bool) {
			for _, l := range lo.Filter(res.Layers, func(l *common.Layer, _ int) bool { return l != nil }) {
				if !yield(r.ConvertFromRPCLayer(l)) {
					return
				}
			}
		}),
	}, nil
}

func (s *Server) unauthorized() error {
	if s.opts.Token == "" {
		return &serverError{fmt.Sprintf("the Trivy server %s requires a token and none is configured: set `token` in the provider's `scanner_server` block (sent in the %s header)", s.url, s.opts.TokenHeader)}
	}
	return &serverError{fmt.Sprintf("the Trivy server %s rejected the token (sent in the %s header): check `token` and `token_header` against the server's --token and --token-header", s.url, s.opts.TokenHeader)}
}

func (s *Server) transportError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		return &serverError{fmt.Sprintf("TLS verification of the Trivy server %s failed (%s): set `ca_cert_pem` in the `scanner_server` block for a private CA", s.url, rootCause(err))}
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(msg, "context deadline exceeded"):
		return &serverError{fmt.Sprintf("the Trivy server %s did not answer within the provider's `timeout`: check that it runs and is not overloaded (a scan of a large image on a busy server can take long; raise `timeout` then). Scanning does not fall back to a local database", s.url)}
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return &serverError{fmt.Sprintf("the Trivy server %s speaks plain HTTP: use an http:// URL (allowed on loopback or with `insecure = true`)", s.url)}
	default:
		return &serverError{fmt.Sprintf("cannot reach the Trivy server %s (%s): check the URL, that the server runs, and the network path from this worker. Scanning does not fall back to a local database", s.url, rootCause(err))}
	}
}

// rpcError turns a failure of the remote cache or the RPC scanner into a
// message that names the server and what to do.
func (s *Server) rpcError(err error) error {
	var redirect *RedirectError
	if errors.As(err, &redirect) {
		return redirect
	}
	var se *serverError
	if errors.As(err, &se) {
		return se
	}
	var tw twirp.Error
	if errors.As(err, &tw) {
		switch tw.Code() {
		case twirp.Unauthenticated, twirp.PermissionDenied:
			return s.unauthorized()
		case twirp.BadRoute, twirp.NotFound, twirp.Malformed, twirp.Unimplemented:
			return fmt.Errorf("the Trivy server %s does not speak the RPC schema of Trivy %s (%s: %s): run a `trivy server` of the same minor version (v0.74) as this provider embeds", s.url, TrivyVersion, tw.Code(), tw.Msg())
		case twirp.DeadlineExceeded, twirp.Canceled:
			return s.transportError(context.DeadlineExceeded)
		case twirp.Unavailable:
			return fmt.Errorf("the Trivy server %s is unavailable (%s), retried with backoff: check the server", s.url, tw.Msg())
		default:
			if cause := tw.Meta("cause"); cause != "" || strings.Contains(tw.Msg(), "dial") {
				return s.transportError(err)
			}
			return fmt.Errorf("the Trivy server %s failed to scan (%s: %s): check the server's logs", s.url, tw.Code(), tw.Msg())
		}
	}
	var re *registry.Error
	if errors.As(err, &re) {
		return err
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return s.transportError(err)
	}
	return err
}

func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

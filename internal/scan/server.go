package scan

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
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
}

// Server scans through a `trivy server`: the worker reads layers from the
// registry and analyses only those the server's cache lacks (Trivy's remote
// cache), and the server detects vulnerabilities with its database. No local
// database is downloaded or opened.
type Server struct {
	opts    ServerOptions
	url     string
	headers http.Header
	client  *http.Client

	once   sync.Once
	db     DBInfo
	err    error
	claims *layerClaims
}

// NewServer checks the options and builds the back end. It does not
// contact the server.
func NewServer(opts ServerOptions) (*Server, error) {
	u, err := url.Parse(strings.TrimSpace(opts.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("scanner_server url %q is not an http(s) URL such as \"https://trivy.example.com:4954\"", opts.URL)
	}
	if u.Scheme == "http" && !registry.IsLoopback(u.Host) && !opts.Insecure {
		return nil, fmt.Errorf("scanner_server url %s uses plain HTTP, which is allowed only on loopback: the token and the image analysis would cross the network unencrypted. Serve Trivy over HTTPS (with `ca_cert_pem` for a private CA) or set `insecure = true` if you accept that", opts.URL)
	}
	if opts.TokenHeader == "" {
		opts.TokenHeader = "Trivy-Token"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
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
			return nil, errors.New("scanner_server ca_cert_pem holds no PEM certificate")
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
	return &Server{opts: opts, url: base, headers: headers, client: &http.Client{Transport: tr}, claims: newLayerClaims()}, nil
}

// URL is the server's address, for messages.
func (s *Server) URL() string { return s.url }

// DB reads the server's database metadata from its /version endpoint (once
// per process) and applies max_age to it, exactly as to a local database.
func (s *Server) DB(ctx context.Context) (DBInfo, error) {
	s.once.Do(func() { s.db, s.err = s.version(ctx) })
	if s.err != nil {
		return DBInfo{}, s.err
	}
	if age := s.opts.Now().Sub(s.db.UpdatedAt); s.opts.MaxAge > 0 && age > s.opts.MaxAge {
		return DBInfo{}, fmt.Errorf("the vulnerability database of the Trivy server %s was updated %s ago (at %s), which is older than max_age (%s). "+
			"The server updates its database itself unless started with --skip-db-update: check its logs and its access to the database repository (or its mirror), or raise max_age",
			s.url, roundAge(age), s.db.UpdatedAt.UTC().Format(time.RFC3339), s.opts.MaxAge)
	}
	return s.db, nil
}

func roundAge(d time.Duration) string {
	if d > 48*time.Hour {
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
	return d.Round(time.Minute).String()
}

func (s *Server) version(ctx context.Context) (DBInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/version", http.NoBody)
	if err != nil {
		return DBInfo{}, err
	}
	for k, v := range s.headers {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return DBInfo{}, s.transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return DBInfo{}, s.unauthorized()
	}
	if resp.StatusCode != http.StatusOK {
		return DBInfo{}, fmt.Errorf("the Trivy server %s answered %d %s on /version: is this a `trivy server` (Trivy ≥ 0.59)? Check the URL and the server's logs", s.url, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	var info types.VersionInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return DBInfo{}, fmt.Errorf("the Trivy server %s sent version information that does not parse (%v): check that the URL points at a `trivy server`", s.url, err)
	}
	if info.VulnerabilityDB == nil || info.VulnerabilityDB.UpdatedAt.IsZero() {
		return DBInfo{}, fmt.Errorf("the Trivy server %s (version %s) reports no vulnerability database: it may still be downloading one. Wait for it, or check its logs", s.url, orUnknown(info.Version))
	}
	return DBInfo{
		Version:    info.VulnerabilityDB.Version,
		UpdatedAt:  info.VulnerabilityDB.UpdatedAt,
		NextUpdate: info.VulnerabilityDB.NextUpdate,
		Source:     fmt.Sprintf("trivy server %s (Trivy %s)", s.url, orUnknown(info.Version)),
	}, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Scan analyses the image on this worker, uploading to the server's cache
// only the blobs it lacks, then asks the server to detect.
func (s *Server) Scan(ctx context.Context, img ftypes.Image, opts Options) (types.Report, error) {
	tctx := xhttp.WithTransport(ctx, fixedTransport{rt: s.client.Transport})
	remoteCache := cache.NewRemoteCache(tctx, cache.RemoteOptions{ServerAddr: s.url, CustomHeaders: s.headers})
	claiming := s.claims.wrap(remoteCache)
	defer claiming.releaseAll()
	art, err := artimage.NewArtifact(img, claiming, ArtifactOption(opts))
	if err != nil {
		return types.Report{}, fmt.Errorf("preparing the image for analysis: %w", err)
	}
	backend := rpcScanner{client: rpc.NewScannerProtobufClient(s.url, s.client), headers: s.headers}
	report, err := trivyscan.NewService(backend, art).ScanArtifact(ctx, ScanOptions(opts))
	if err != nil {
		return types.Report{}, s.rpcError(err)
	}
	stripSecretText(&report)
	return report, nil
}

// fixedTransport hands Trivy's HTTP helpers our transport (TLS settings,
// dialer) instead of their process-global default.
type fixedTransport struct{ rt http.RoundTripper }

func (f fixedTransport) Build(...xhttp.TransportOption) http.RoundTripper { return f.rt }

// rpcScanner is Trivy's RPC scanner client (rpc/client.Service) with our
// HTTP client: the same request, the same conversions.
type rpcScanner struct {
	client  rpc.Scanner
	headers http.Header
}

func (c rpcScanner) Scan(ctx context.Context, target, artifactKey string, blobKeys []string, opts types.ScanOptions) (types.ScanResponse, error) {
	ctx = rpcclient.WithCustomHeaders(ctx, c.headers)
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
		return fmt.Errorf("the Trivy server %s requires a token and none is configured: set `token` in the provider's `scanner_server` block (sent in the %s header)", s.url, s.opts.TokenHeader)
	}
	return fmt.Errorf("the Trivy server %s rejected the token (sent in the %s header): check `token` and `token_header` against the server's --token and --token-header", s.url, s.opts.TokenHeader)
}

func (s *Server) transportError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		return fmt.Errorf("TLS verification of the Trivy server %s failed (%s): set `ca_cert_pem` in the `scanner_server` block for a private CA", s.url, rootCause(err))
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("the Trivy server %s speaks plain HTTP: use an http:// URL (allowed on loopback or with `insecure = true`)", s.url)
	default:
		return fmt.Errorf("cannot reach the Trivy server %s (%s): check the URL, that the server runs, and the network path from this worker. Scanning does not fall back to a local database", s.url, rootCause(err))
	}
}

// rpcError turns a failure of the remote cache or the RPC scanner into a
// message that names the server and what to do.
func (s *Server) rpcError(err error) error {
	var tw twirp.Error
	if errors.As(err, &tw) {
		switch tw.Code() {
		case twirp.Unauthenticated, twirp.PermissionDenied:
			return s.unauthorized()
		case twirp.BadRoute, twirp.NotFound, twirp.Malformed, twirp.Unimplemented:
			return fmt.Errorf("the Trivy server %s does not speak the RPC schema of Trivy %s (%s: %s): run a `trivy server` of the same minor version (v0.74) as this provider embeds", s.url, TrivyVersion, tw.Code(), tw.Msg())
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

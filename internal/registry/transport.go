package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// RegistryOptions configures one registry: credentials and transport
// security. Only one of Username/Password and Token is used.
type RegistryOptions struct {
	// Address is the registry host[:port], e.g. "registry.example.com".
	Address  string
	Username string
	Password string
	// Token is a bearer token sent as-is.
	Token string
	// Insecure allows plain HTTP and unverified TLS for this registry only.
	Insecure bool
	// CACertPEM is extra trust for this registry's TLS certificate.
	CACertPEM string
}

// normalizeHost maps an address to the host go-containerregistry puts in
// URLs ("docker.io" becomes "index.docker.io").
func normalizeHost(address string) (string, error) {
	a := strings.TrimSpace(address)
	a = strings.TrimPrefix(strings.TrimPrefix(a, "https://"), "http://")
	a = strings.TrimSuffix(a, "/")
	if a == "" {
		return "", fmt.Errorf("registry address is empty")
	}
	reg, err := name.NewRegistry(a, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("registry address %q is not a host[:port]: %w", address, err)
	}
	return reg.RegistryStr(), nil
}

// IsLoopback reports whether host[:port] names a loopback address, where
// plain HTTP is allowed as Docker allows it.
func IsLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// routingTransport sends each request through the transport configured for
// its host and refuses plain HTTP except to loopback or insecure registries.
type routingTransport struct {
	base     http.RoundTripper
	perHost  map[string]http.RoundTripper
	insecure map[string]bool
}

// maxRedirects is where a chain of redirects ends, as net/http's default
// policy ends it: go-containerregistry installs its own redirect check,
// which has no limit, so a registry redirecting in a loop would otherwise
// hold a read until the provider's timeout.
const maxRedirects = 10

// errRedirectLoop ends a chain longer than maxRedirects.
var errRedirectLoop = fmt.Errorf("stopped after %d redirects", maxRedirects)

// redirectDepth counts the redirects that led to req: net/http links each
// redirected request to the response that caused it.
func redirectDepth(req *http.Request) int {
	n := 0
	for r := req; r != nil && r.Response != nil; r = r.Response.Request {
		n++
	}
	return n
}

func (t *routingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if redirectDepth(req) > maxRedirects {
		return nil, errRedirectLoop
	}
	host := req.URL.Host
	if req.URL.Scheme == "http" && !IsLoopback(host) && !t.insecure[host] {
		return nil, &plainHTTPError{host: host}
	}
	if rt, ok := t.perHost[host]; ok {
		return logRequest(rt, req)
	}
	return logRequest(t.base, req)
}

// newTransport builds the shared transport: one connection pool, with a
// dedicated TLS configuration for registries that need one.
func newTransport(regs map[string]RegistryOptions, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*routingTransport, error) {
	base := newBaseTransport()
	if dial != nil {
		base.DialContext = dial
	}
	base.MaxIdleConnsPerHost = 16
	rt := &routingTransport{base: base, perHost: map[string]http.RoundTripper{}, insecure: map[string]bool{}}
	for host, r := range regs {
		if r.Insecure {
			rt.insecure[host] = true
		}
		if !r.Insecure && r.CACertPEM == "" {
			continue
		}
		t := base.Clone()
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if r.CACertPEM != "" {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM([]byte(r.CACertPEM)) {
				return nil, fmt.Errorf("registry %q: ca_cert_pem holds no PEM certificate", r.Address)
			}
			cfg.RootCAs = pool
		}
		if r.Insecure {
			cfg.InsecureSkipVerify = true //nolint:gosec // the user listed this registry as insecure
		}
		t.TLSClientConfig = cfg
		rt.perHost[host] = t
	}
	return rt, nil
}

// keychain gives the provider's configured credentials first and falls back
// to the docker config and its credential helpers, as docker and crane do.
type keychain struct {
	static   map[string]RegistryOptions
	fallback authn.Keychain
}

func (k keychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	if r, ok := k.static[res.RegistryStr()]; ok {
		switch {
		case r.Token != "":
			return authn.FromConfig(authn.AuthConfig{RegistryToken: r.Token}), nil
		case r.Username != "" || r.Password != "":
			return authn.FromConfig(authn.AuthConfig{Username: r.Username, Password: r.Password}), nil
		}
	}
	if k.fallback == nil {
		return authn.Anonymous, nil
	}
	return k.fallback.Resolve(res)
}

// newBaseTransport clones net/http's default transport (proxy settings,
// timeouts, HTTP/2), or starts from an empty one if a program replaced it.
func newBaseTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
}

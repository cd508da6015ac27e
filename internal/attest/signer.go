package attest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// Sigstore's public-good instance, cosign's defaults.
const (
	DefaultFulcioURL = "https://fulcio.sigstore.dev"
	DefaultRekorURL  = "https://rekor.sigstore.dev"
)

// Signer kinds.
const (
	KindKey     = "key"
	KindKMS     = "kms"
	KindKeyless = "keyless"
)

// Keyless signs with a short-lived Fulcio certificate for an OIDC identity.
type Keyless struct {
	FulcioURL string
	// IDToken is the OIDC identity token Fulcio exchanges for a certificate.
	IDToken string
}

// SignerOptions say how to sign. Exactly one of PrivateKeyPEM, KMSRef and
// Keyless is set.
type SignerOptions struct {
	// PrivateKeyPEM is a cosign key (encrypted with Password) or an
	// unencrypted PKCS #8, EC or RSA key.
	PrivateKeyPEM []byte
	Password      []byte
	// KMSRef is a KMS key in cosign's syntax.
	KMSRef  string
	Keyless *Keyless
	// TLogUpload records each signature in the Rekor log at RekorURL, as
	// cosign does unless --tlog-upload=false. Keyless signing requires it:
	// nothing else proves the short-lived certificate was valid at signing.
	TLogUpload bool
	RekorURL   string
	// Timeout bounds each Fulcio or Rekor request; zero means 30s.
	Timeout time.Duration
	// Transport carries Fulcio requests; nil means the default transport.
	Transport http.RoundTripper
}

// Signer makes Sigstore bundles. It is not safe for concurrent use.
type Signer struct {
	kind  string
	kp    sign.Keypair
	keyID string
	opts  sign.BundleOptions
	close func()
}

// NewSigner prepares the key (decrypting it, or opening the KMS key) and
// the Sigstore services; nothing is signed yet. Errors never quote a key,
// a password or a token.
func NewSigner(ctx context.Context, o SignerOptions) (*Signer, error) {
	n := 0
	for _, set := range []bool{len(o.PrivateKeyPEM) > 0, o.KMSRef != "", o.Keyless != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("give exactly one signer: a private key, a KMS key, or keyless")
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	s := &Signer{close: func() {}}
	switch {
	case len(o.PrivateKeyPEM) > 0:
		sv, err := loadPrivateKey(o.PrivateKeyPEM, o.Password)
		if err != nil {
			return nil, err
		}
		kp, err := newKeypair(sv)
		if err != nil {
			return nil, err
		}
		s.kind, s.kp, s.keyID = KindKey, kp, kp.keyID
	case o.KMSRef != "":
		sv, err := loadKMS(ctx, o.KMSRef)
		if err != nil {
			return nil, err
		}
		kp, err := newKeypair(sv)
		if err != nil {
			return nil, fmt.Errorf("KMS key %s: %w", o.KMSRef, err)
		}
		s.kind, s.kp, s.keyID = KindKMS, kp, kp.keyID
		if c, ok := sv.(interface{ Close() }); ok {
			s.close = c.Close
		}
	default:
		if o.Keyless.IDToken == "" {
			return nil, errors.New("keyless signing needs an OIDC identity token")
		}
		if !o.TLogUpload {
			return nil, errors.New("keyless signing needs the transparency log (tlog_upload = true): verifiers accept a short-lived certificate only with proof of when it signed")
		}
		fulcio := firstNonEmpty(o.Keyless.FulcioURL, DefaultFulcioURL)
		if err := checkServiceURL("fulcio_url", fulcio); err != nil {
			return nil, err
		}
		kp, err := sign.NewEphemeralKeypair(nil)
		if err != nil {
			return nil, err
		}
		s.kind, s.kp = KindKeyless, kp
		s.opts.CertificateProvider = &onceCertificate{inner: sign.NewFulcio(&sign.FulcioOptions{BaseURL: fulcio, Timeout: timeout, Retries: 1, Transport: o.Transport})}
		s.opts.CertificateProviderOptions = &sign.CertificateProviderOptions{IDToken: o.Keyless.IDToken}
	}
	if o.TLogUpload {
		rekor := firstNonEmpty(o.RekorURL, DefaultRekorURL)
		if err := checkServiceURL("rekor_url", rekor); err != nil {
			return nil, err
		}
		s.opts.TransparencyLogs = []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: rekor, Timeout: timeout, Retries: 1, Version: 1})}
	}
	return s, nil
}

// Kind is "key", "kms" or "keyless".
func (s *Signer) Kind() string { return s.kind }

// KeyID is the hex SHA-256 of the DER public key of a key or KMS signer
// (what imageguard_verify reports as key_id); empty for keyless.
func (s *Signer) KeyID() string { return s.keyID }

// Close releases a KMS client.
func (s *Signer) Close() { s.close() }

// Signed is one signed statement.
type Signed struct {
	// Bundle is the Sigstore bundle (v0.3) as JSON, what is stored.
	Bundle []byte
	// TLogIndex is the Rekor log index, -1 without a log entry.
	TLogIndex int64
	// CertificateIdentity is the keyless certificate's SAN, empty otherwise.
	CertificateIdentity string
}

// Sign signs an in-toto statement as a DSSE envelope in a Sigstore bundle,
// with the Fulcio certificate (keyless) and the Rekor entry (tlog) in its
// verification material.
func (s *Signer) Sign(ctx context.Context, statement []byte) (*Signed, error) {
	opts := s.opts
	opts.Context = ctx
	b, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: PayloadType}, s.kp, opts)
	if err != nil {
		return nil, fmt.Errorf("signing with the %s signer: %w", s.kind, err)
	}
	raw, err := protojson.Marshal(b)
	if err != nil {
		return nil, err
	}
	out := &Signed{Bundle: raw, TLogIndex: -1}
	if es := b.GetVerificationMaterial().GetTlogEntries(); len(es) > 0 {
		out.TLogIndex = es[0].GetLogIndex()
	}
	out.CertificateIdentity = certificateIdentity(b)
	return out, nil
}

// onceCertificate asks Fulcio once per Signer: both predicates are signed
// with the same ephemeral key within the certificate's ten minutes.
type onceCertificate struct {
	inner sign.CertificateProvider
	mu    sync.Mutex
	cert  []byte
}

func (c *onceCertificate) GetCertificate(ctx context.Context, kp sign.Keypair, opts *sign.CertificateProviderOptions) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert != nil {
		return c.cert, nil
	}
	cert, err := c.inner.GetCertificate(ctx, kp, opts)
	if err != nil {
		return nil, fmt.Errorf("getting a signing certificate from Fulcio: %w", err)
	}
	c.cert = cert
	return cert, nil
}

func checkServiceURL(attr, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s must be an http(s) URL such as %s", attr, map[string]string{"fulcio_url": DefaultFulcioURL, "rekor_url": DefaultRekorURL}[attr])
	}
	if u.User != nil {
		return fmt.Errorf("%s must not carry credentials", attr)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%s %s uses plain HTTP, which is allowed only on loopback (127.0.0.0/8, ::1, localhost): the OIDC token, the certificate and the log's answers would cross the network unencrypted", attr, u.Redacted())
	}
	return nil
}

// isLoopback reports whether host (no port) is localhost or a loopback IP.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// certificateIdentity is the SAN of a keyless bundle's certificate.
func certificateIdentity(b *protobundle.Bundle) string {
	c := b.GetVerificationMaterial().GetCertificate()
	if c == nil {
		return ""
	}
	cert, err := x509.ParseCertificate(c.GetRawBytes())
	if err != nil {
		return ""
	}
	for _, e := range cert.EmailAddresses {
		return e
	}
	for _, u := range cert.URIs {
		return u.String()
	}
	return ""
}

package acctest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	notationregistry "github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/ocsp"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// NotaryCA is a Notary Project certificate authority for tests, made with
// crypto/x509: a root and an intermediate CA issuing code-signing
// certificates, as an enterprise PKI or Azure Key Vault would.
type NotaryCA struct {
	Root, Intermediate *x509.Certificate
	rootKey, intKey    *ecdsa.PrivateKey
	// RootPEM is the root certificate in PEM, what certificates_pem holds.
	RootPEM string
}

// NotaryCert is a signing certificate with its chain (leaf first, root
// last) and private key.
type NotaryCert struct {
	Chain []*x509.Certificate
	Key   crypto.Signer
	// Identity is the trusted_identities entry for it:
	// "x509.subject: C=US, ST=WA, O=acme, CN=<cn>".
	Identity string
}

func newECKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func serial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func certPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// NewNotaryCA makes a root ("<name> Root CA") and an intermediate CA.
func NewNotaryCA(tb testing.TB, name string) *NotaryCA {
	tb.Helper()
	now := time.Now()
	ca := &NotaryCA{rootKey: newECKey(tb), intKey: newECKey(tb)}
	root := &x509.Certificate{SerialNumber: serial(tb), Subject: pkix.Name{Country: []string{"US"}, Organization: []string{name}, CommonName: name + " Root CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: 1}
	ca.Root = mustCert(tb, root, root, &ca.rootKey.PublicKey, ca.rootKey)
	inter := &x509.Certificate{SerialNumber: serial(tb), Subject: pkix.Name{Country: []string{"US"}, Organization: []string{name}, CommonName: name + " Signing CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true}
	ca.Intermediate = mustCert(tb, inter, ca.Root, &ca.intKey.PublicKey, ca.rootKey)
	ca.RootPEM = certPEM(ca.Root)
	return ca
}

// NotaryCertOptions shape an issued certificate.
type NotaryCertOptions struct {
	// Lifetime from now; default 12h. A short one makes a certificate that
	// expires during the test.
	Lifetime time.Duration
	// OCSPServer is written into the certificate (revocation checks).
	OCSPServer string
}

// Issue makes a code-signing certificate for CN=cn, O=acme, ST=WA, C=US.
func (ca *NotaryCA) Issue(tb testing.TB, cn string, o NotaryCertOptions) NotaryCert {
	tb.Helper()
	if o.Lifetime == 0 {
		o.Lifetime = 12 * time.Hour
	}
	now := time.Now()
	key := newECKey(tb)
	tmpl := &x509.Certificate{SerialNumber: serial(tb), Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"acme"}, CommonName: cn},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(o.Lifetime), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, BasicConstraintsValid: true}
	if o.OCSPServer != "" {
		tmpl.OCSPServer = []string{o.OCSPServer}
	}
	leaf := mustCert(tb, tmpl, ca.Intermediate, &key.PublicKey, ca.intKey)
	return NotaryCert{Chain: []*x509.Certificate{leaf, ca.Intermediate, ca.Root}, Key: key, Identity: "x509.subject: C=US, ST=WA, O=acme, CN=" + cn}
}

// NotaryTSA is an RFC 3161 timestamp authority on an httptest server
// (github.com/digitorus/timestamp makes the tokens), with a self-signed
// root, as notation's `--timestamp-url` expects one.
type NotaryTSA struct {
	URL     string
	Root    *x509.Certificate
	RootPEM string
}

// NewNotaryTSA starts a timestamp authority for the test.
func NewNotaryTSA(tb testing.TB) *NotaryTSA {
	tb.Helper()
	now := time.Now()
	rootKey, leafKey := newECKey(tb), newECKey(tb)
	rootTmpl := &x509.Certificate{SerialNumber: serial(tb), Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"acme TSA"}, CommonName: "acme TSA Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour), KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	root := mustCert(tb, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	// The Notary Project wants the timeStamping EKU critical; crypto/x509
	// writes EKUs non-critical, so it is given as a raw extension.
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		tb.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: serial(tb), Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"acme TSA"}, CommonName: "acme Timestamping"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	leaf := mustCert(tb, leafTmpl, root, &leafKey.PublicKey, rootKey)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: time.Now().UTC(), Nonce: req.Nonce,
			Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}, Accuracy: time.Second, SerialNumber: serial(tb), AddTSACertificate: req.Certificates}
		resp, err := ts.CreateResponseWithOpts(leaf, leafKey, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(resp)
	}))
	tb.Cleanup(srv.Close)
	return &NotaryTSA{URL: srv.URL, Root: root, RootPEM: certPEM(root)}
}

// NotarySignOptions shape a Notary Project signature.
type NotarySignOptions struct {
	// Envelope is "jws" (default) or "cose".
	Envelope string
	// TagSchema stores the signature as notation does on registries without
	// the referrers API: the signature manifest plus the `sha256-<hex>`
	// referrers tag index. Otherwise the referrers API is used.
	TagSchema bool
	// TSA, when set, timestamps the signature.
	TSA *NotaryTSA
	// Username and Password log in to the registry (HTTP basic).
	Username, Password string
	// VerificationPlugin, when set, names a verification plugin in the
	// signed attributes, as AWS Signer's signatures do
	// ("com.amazonaws.signer.notation.plugin").
	VerificationPlugin string
}

// NotarySign signs host/repo@d with notation-go (signer.NewGenericSigner,
// notation.Sign) and pushes the signature through oras-go, as the notation
// CLI does.
func NotarySign(tb testing.TB, host, repo string, d v1.Hash, cert NotaryCert, o NotarySignOptions) {
	tb.Helper()
	ctx := context.Background()
	s, err := signer.NewGenericSigner(cert.Key, cert.Chain)
	if err != nil {
		tb.Fatalf("notation signer: %v", err)
	}
	opts := notation.SignOptions{ArtifactReference: host + "/" + repo + "@" + d.String()}
	opts.SignatureMediaType = jws.MediaTypeEnvelope
	if o.Envelope == "cose" {
		opts.SignatureMediaType = cose.MediaTypeEnvelope
	}
	if o.TSA != nil {
		ts, err := tspclient.NewHTTPTimestamper(nil, o.TSA.URL)
		if err != nil {
			tb.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(o.TSA.Root)
		opts.Timestamper, opts.TSARootCAs = ts, pool
	}
	var ns notation.Signer = s
	if o.VerificationPlugin != "" {
		ns = pluginSigner{cert: cert, plugin: o.VerificationPlugin}
	}
	r := notaryRepository(tb, host, repo, o.TagSchema)
	if o.Username != "" {
		r = notaryRepositoryAs(tb, host, repo, o.TagSchema, o.Username, o.Password)
	}
	if _, err := notation.Sign(ctx, ns, r, opts); err != nil {
		tb.Fatalf("notation sign %s/%s@%s: %v", host, repo, d, err)
	}
}

// NotaryCopySignatures attaches every Notary Project signature of `from`
// to `to` unchanged: a signature copied to another image, which must not
// verify for it.
func NotaryCopySignatures(tb testing.TB, host, repo string, from, to v1.Hash, tagSchema bool) {
	tb.Helper()
	ctx := context.Background()
	r := notaryRepository(tb, host, repo, tagSchema)
	fromDesc, err := r.Resolve(ctx, from.String())
	if err != nil {
		tb.Fatal(err)
	}
	toDesc, err := r.Resolve(ctx, to.String())
	if err != nil {
		tb.Fatal(err)
	}
	var sigs []struct {
		mt   string
		blob []byte
	}
	err = r.ListSignatures(ctx, fromDesc, func(list []ocispec.Descriptor) error {
		for _, d := range list {
			blob, bd, err := r.FetchSignatureBlob(ctx, d)
			if err != nil {
				return err
			}
			sigs = append(sigs, struct {
				mt   string
				blob []byte
			}{bd.MediaType, blob})
		}
		return nil
	})
	if err != nil || len(sigs) == 0 {
		tb.Fatalf("listing the signatures of %s: %v (%d found)", from, err, len(sigs))
	}
	for _, s := range sigs {
		if _, _, err := r.PushSignature(ctx, s.mt, s.blob, toDesc, nil); err != nil {
			tb.Fatal(err)
		}
	}
}

func notaryRepository(tb testing.TB, host, repo string, tagSchema bool) notationregistry.Repository {
	tb.Helper()
	return notaryRepositoryAs(tb, host, repo, tagSchema, "", "")
}

// notaryRepositoryAs is notaryRepository with HTTP basic credentials.
func notaryRepositoryAs(tb testing.TB, host, repo string, tagSchema bool, username, password string) notationregistry.Repository {
	tb.Helper()
	rr, err := remote.NewRepository(host + "/" + repo)
	if err != nil {
		tb.Fatal(err)
	}
	rr.PlainHTTP = strings.HasPrefix(host, "127.0.0.1") || strings.HasPrefix(host, "localhost")
	if username != "" {
		rr.Client = &auth.Client{Credential: auth.StaticCredential(host, auth.Credential{Username: username, Password: password})}
	}
	if err := rr.SetReferrersCapability(!tagSchema); err != nil {
		tb.Fatal(err)
	}
	return notationregistry.NewRepository(rr)
}

// pluginSigner signs as a plugin-backed signer would: its signed
// attributes name a verification plugin.
type pluginSigner struct {
	cert   NotaryCert
	plugin string
}

func (p pluginSigner) Sign(_ context.Context, desc ocispec.Descriptor, opts notation.SignerSignOptions) ([]byte, *signature.SignerInfo, error) {
	payload, err := json.Marshal(map[string]any{"targetArtifact": desc})
	if err != nil {
		return nil, nil, err
	}
	ls, err := signature.NewLocalSigner(p.cert.Chain, p.cert.Key)
	if err != nil {
		return nil, nil, err
	}
	env, err := signature.NewEnvelope(opts.SignatureMediaType)
	if err != nil {
		return nil, nil, err
	}
	blob, err := env.Sign(&signature.SignRequest{
		Payload: signature.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: payload}, Signer: ls,
		SigningTime: time.Now(), SigningScheme: signature.SigningSchemeX509, SigningAgent: "imageguard-test",
		ExtendedSignedAttributes: []signature.Attribute{{Key: "io.cncf.notary.verificationPlugin", Critical: true, Value: p.plugin}},
	})
	if err != nil {
		return nil, nil, err
	}
	content, err := env.Content()
	if err != nil {
		return nil, nil, err
	}
	return blob, &content.SignerInfo, nil
}

// NotaryPushEnvelope attaches one signature manifest whose JWS envelope is
// blob, through the referrers API.
func NotaryPushEnvelope(tb testing.TB, host, repo string, d v1.Hash, blob []byte) {
	tb.Helper()
	ctx := context.Background()
	r := notaryRepository(tb, host, repo, false)
	desc, err := r.Resolve(ctx, d.String())
	if err != nil {
		tb.Fatal(err)
	}
	if _, _, err := r.PushSignature(ctx, jws.MediaTypeEnvelope, blob, desc, nil); err != nil {
		tb.Fatal(err)
	}
}

// NotaryPushJunk attaches n signature manifests of artifact type
// application/vnd.cncf.notary.signature whose envelopes are junk.
func NotaryPushJunk(tb testing.TB, host, repo string, d v1.Hash, n int, tagSchema bool) {
	tb.Helper()
	ctx := context.Background()
	r := notaryRepository(tb, host, repo, tagSchema)
	desc, err := r.Resolve(ctx, d.String())
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, _, err := r.PushSignature(ctx, jws.MediaTypeEnvelope, []byte(fmt.Sprintf(`{"junk":%d}`, i)), desc, nil); err != nil {
			tb.Fatal(err)
		}
	}
}

// OCSPResponder answers OCSP requests for certificates this CA's
// intermediate issued, signed with the intermediate's key: revoked for the
// serial numbers revoked says, good otherwise. Its URL goes into
// NotaryCertOptions.OCSPServer.
func (ca *NotaryCA) OCSPResponder(tb testing.TB, revoked func(serial *big.Int) bool) string {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		var err error
		if r.Method == http.MethodPost {
			body, err = io.ReadAll(io.LimitReader(r.Body, 1<<16))
		} else {
			body, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(r.URL.Path, "/"))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}
		if revoked(req.SerialNumber) {
			tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, now.Add(-time.Minute), ocsp.KeyCompromise
		}
		resp, err := ocsp.CreateResponse(ca.Intermediate, ca.Intermediate, tmpl, ca.intKey)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(resp)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

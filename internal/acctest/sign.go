package acctest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // SubjectKeyId is a SHA-1 of the key, as RFC 5280 and Fulcio do
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/swag/conv"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	cbundle "github.com/sigstore/cosign/v3/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
	rekortypes "github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"         // registers the dsse entry type with the virtual log
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1" // registers the hashedrekord entry type
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"
	"google.golang.org/protobuf/encoding/protojson"
)

// CosignSignPredicateType is the in-toto predicate type cosign v3 uses for
// an image signature stored as a Sigstore bundle.
const CosignSignPredicateType = ctypes.CosignSignPredicateType

// KeyPair is an ECDSA P-256 key pair, as `cosign generate-key-pair` makes.
type KeyPair struct {
	Private *ecdsa.PrivateKey
	// PublicKeyPEM is the PKIX public key in PEM, what `cosign.pub` holds.
	PublicKeyPEM string
}

// NewKeyPair generates a key pair.
func NewKeyPair(tb testing.TB) *KeyPair {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		tb.Fatal(err)
	}
	return &KeyPair{Private: priv, PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

// Sigstore is an in-memory Sigstore for keyless tests: the transparency log
// and timestamp authority of sigstore-go's VirtualSigstore, and a Fulcio-like
// CA of our own, because VirtualSigstore's CA can neither add the GitHub
// workflow extensions nor issue a certificate with a chosen validity.
type Sigstore struct {
	virtual   *ca.VirtualSigstore
	rootCert  *x509.Certificate
	interCert *x509.Certificate
	interKey  *ecdsa.PrivateKey

	mu       sync.Mutex
	logIndex int64
	logClock func() time.Time // nil: time.Now
}

// SetLogClock sets the clock of the virtual transparency log for entries
// that do not choose their time (Signer.LogTime), such as those made
// through RekorServer; nil means time.Now. Entries up to 30 days old verify
// against TrustedRootJSON.
func (s *Sigstore) SetLogClock(clock func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logClock = clock
}

// NewSigstore starts an in-memory CA, transparency log and TSA.
func NewSigstore(tb testing.TB) *Sigstore {
	tb.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Sigstore{virtual: vs, logIndex: 7000}
	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imageguard-test-fulcio-root", Organization: []string{"imageguard.test"}},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	s.rootCert = mustCert(tb, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	s.interKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	interTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "imageguard-test-fulcio-intermediate", Organization: []string{"imageguard.test"}},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true, IsCA: true,
	}
	s.interCert = mustCert(tb, interTmpl, s.rootCert, s.interKey.Public(), rootKey)
	return s
}

func mustCert(tb testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TrustedRootJSON is a Sigstore trusted_root.json naming this CA, log and
// TSA (no CT logs: the test certificates carry no SCTs).
func (s *Sigstore) TrustedRootJSON(tb testing.TB) string {
	tb.Helper()
	fulcio := &root.FulcioCertificateAuthority{
		Root: s.rootCert, Intermediates: []*x509.Certificate{s.interCert},
		ValidityPeriodStart: s.rootCert.NotBefore, URI: "https://fulcio.imageguard.test",
	}
	// VirtualSigstore keys its logs by the hex log ID but stores the hex text
	// as the ID; a trusted root needs the raw key ID.
	logs := map[string]*root.TransparencyLog{}
	for id, l := range s.virtual.RekorLogs() {
		raw, err := hex.DecodeString(id)
		if err != nil {
			tb.Fatal(err)
		}
		c := *l
		c.ID = raw
		c.ValidityPeriodStart = time.Now().Add(-30 * 24 * time.Hour) // backdated entries verify
		c.ValidityPeriodEnd = time.Time{}
		logs[id] = &c
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{fulcio}, nil, s.virtual.TimestampingAuthorities(), logs)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := tr.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	return string(raw)
}

// Identity is what a keyless certificate says about its holder.
type Identity struct {
	Issuer  string
	Subject string // an email address, or a URI such as a GitHub workflow ref

	GitHubWorkflowTrigger    string
	GitHubWorkflowSHA        string
	GitHubWorkflowName       string
	GitHubWorkflowRepository string
	GitHubWorkflowRef        string

	// CI carries Fulcio's CI extensions (OIDs 1.3.6.1.4.1.57264.1.9 to
	// .22: source repository URI, digest and ref, owner URI, build signer
	// URI, runner environment, build config, run invocation, …), as Fulcio
	// writes them from a GitHub Actions token; GitHubActions fills them.
	CI certificate.Extensions

	// NotBefore and NotAfter override the certificate's validity; zero means
	// from a minute ago for ten minutes, as Fulcio issues them.
	NotBefore, NotAfter time.Time
}

var (
	oidIssuerV1      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidGitHubTrigger = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 2}
	oidGitHubSHA     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 3}
	oidGitHubName    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 4}
	oidGitHubRepo    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 5}
	oidGitHubRef     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 6}
	oidIssuerV2      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// GitHubActionsIssuer is the OIDC issuer of GitHub Actions' tokens.
const GitHubActionsIssuer = "https://token.actions.githubusercontent.com"

// GitHubBuild describes one GitHub Actions run, what Fulcio certifies
// from its OIDC token.
type GitHubBuild struct {
	// Server is the GitHub URL, "https://github.com" when empty (a GHE.com
	// tenant: "https://acme.ghe.com").
	Server string
	// Repository ("acme/api") is the source repository, Workflow
	// ("acme/api/.github/workflows/release.yml@refs/heads/main") the
	// workflow that signed (a reusable one may live in another repository).
	Repository, Workflow string
	Ref, Commit          string
	// Runner is "github-hosted" (default) or "self-hosted".
	Runner string
	// Issuer overrides the OIDC issuer (default: GitHub Actions', or the
	// tenant's for a GHE.com server).
	Issuer string
}

// GitHubActions is the identity Fulcio certifies for a GitHub Actions run:
// the SAN is the signing workflow's URI and the CI extensions say which
// repository, ref and commit were built on which runner.
func GitHubActions(b GitHubBuild) Identity {
	server := b.Server
	if server == "" {
		server = "https://github.com"
	}
	issuer := b.Issuer
	if issuer == "" {
		issuer = GitHubActionsIssuer
		if host := strings.TrimPrefix(server, "https://"); strings.HasSuffix(host, ".ghe.com") {
			issuer = "https://token.actions." + host
		}
	}
	runner := b.Runner
	if runner == "" {
		runner = "github-hosted"
	}
	owner, _, _ := strings.Cut(b.Repository, "/")
	// The build config is the workflow the run started from: the signer
	// itself, or the caller of a reusable workflow from another repository.
	config := server + "/" + b.Workflow
	if !strings.HasPrefix(b.Workflow, b.Repository+"/") {
		config = server + "/" + b.Repository + "/.github/workflows/caller.yml@" + b.Ref
	}
	return Identity{
		Issuer: issuer, Subject: server + "/" + b.Workflow,
		GitHubWorkflowTrigger: "push", GitHubWorkflowSHA: b.Commit, GitHubWorkflowRepository: b.Repository, GitHubWorkflowRef: b.Ref,
		CI: certificate.Extensions{
			BuildSignerURI: server + "/" + b.Workflow, BuildSignerDigest: b.Commit, RunnerEnvironment: runner,
			SourceRepositoryURI: server + "/" + b.Repository, SourceRepositoryDigest: b.Commit, SourceRepositoryRef: b.Ref,
			SourceRepositoryIdentifier: "1001", SourceRepositoryOwnerURI: server + "/" + owner, SourceRepositoryOwnerIdentifier: "2002",
			BuildConfigURI:    config,
			BuildConfigDigest: b.Commit, BuildTrigger: "push",
			RunInvocationURI: server + "/" + b.Repository + "/actions/runs/42/attempts/1", SourceRepositoryVisibilityAtSigning: "public",
		},
	}
}

// ciExtensions renders Fulcio's CI extensions (DER UTF8String values).
func ciExtensions(e certificate.Extensions) ([]pkix.Extension, error) {
	var out []pkix.Extension
	for _, x := range []struct {
		oid asn1.ObjectIdentifier
		v   string
	}{
		{certificate.OIDBuildSignerURI, e.BuildSignerURI}, {certificate.OIDBuildSignerDigest, e.BuildSignerDigest},
		{certificate.OIDRunnerEnvironment, e.RunnerEnvironment}, {certificate.OIDSourceRepositoryURI, e.SourceRepositoryURI},
		{certificate.OIDSourceRepositoryDigest, e.SourceRepositoryDigest}, {certificate.OIDSourceRepositoryRef, e.SourceRepositoryRef},
		{certificate.OIDSourceRepositoryIdentifier, e.SourceRepositoryIdentifier}, {certificate.OIDSourceRepositoryOwnerURI, e.SourceRepositoryOwnerURI},
		{certificate.OIDSourceRepositoryOwnerIdentifier, e.SourceRepositoryOwnerIdentifier}, {certificate.OIDBuildConfigURI, e.BuildConfigURI},
		{certificate.OIDBuildConfigDigest, e.BuildConfigDigest}, {certificate.OIDBuildTrigger, e.BuildTrigger},
		{certificate.OIDRunInvocationURI, e.RunInvocationURI}, {certificate.OIDSourceRepositoryVisibilityAtSigning, e.SourceRepositoryVisibilityAtSigning},
	} {
		if x.v == "" {
			continue
		}
		der, err := asn1.MarshalWithParams(x.v, "utf8")
		if err != nil {
			return nil, err
		}
		out = append(out, pkix.Extension{Id: x.oid, Value: der})
	}
	return out, nil
}

// issue makes a code-signing certificate for pub, as Fulcio does: the
// subject in the SAN, the OIDC issuer in both issuer extensions and the
// deprecated (raw-valued) GitHub workflow extensions.
func (s *Sigstore) issue(pub crypto.PublicKey, id Identity) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	ski := sha1.Sum(der) //nolint:gosec // see import
	notBefore, notAfter := id.NotBefore, id.NotAfter
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Minute)
	}
	if notAfter.IsZero() {
		notAfter = notBefore.Add(10 * time.Minute)
	}
	issuerV2, err := asn1.MarshalWithParams(id.Issuer, "utf8")
	if err != nil {
		return nil, err
	}
	exts := []pkix.Extension{{Id: oidIssuerV1, Value: []byte(id.Issuer)}, {Id: oidIssuerV2, Value: issuerV2}}
	for _, e := range []struct {
		oid asn1.ObjectIdentifier
		v   string
	}{{oidGitHubTrigger, id.GitHubWorkflowTrigger}, {oidGitHubSHA, id.GitHubWorkflowSHA}, {oidGitHubName, id.GitHubWorkflowName}, {oidGitHubRepo, id.GitHubWorkflowRepository}, {oidGitHubRef, id.GitHubWorkflowRef}} {
		if e.v != "" {
			exts = append(exts, pkix.Extension{Id: e.oid, Value: []byte(e.v)})
		}
	}
	ci, err := ciExtensions(id.CI)
	if err != nil {
		return nil, err
	}
	exts = append(exts, ci...)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		SubjectKeyId: ski[:], ExtraExtensions: exts,
	}
	if strings.Contains(id.Subject, "://") {
		u, err := url.Parse(id.Subject)
		if err != nil {
			return nil, err
		}
		tmpl.URIs = append(tmpl.URIs, u)
	} else {
		tmpl.EmailAddresses = []string{id.Subject}
	}
	return x509.CreateCertificate(rand.Reader, tmpl, s.interCert, pub, s.interKey)
}

// virtualFulcio hands out certificates from the test CA (sign.CertificateProvider).
type virtualFulcio struct {
	s  *Sigstore
	id Identity
}

func (f virtualFulcio) GetCertificate(_ context.Context, kp sign.Keypair, _ *sign.CertificateProviderOptions) ([]byte, error) {
	return f.s.issue(kp.GetPublicKey(), f.id)
}

// virtualRekor is a Rekor v1 "create entry" endpoint backed by the
// VirtualSigstore's log key: it canonicalises the proposed entry as Rekor
// does and returns it with a signed entry timestamp and an inclusion proof.
type virtualRekor struct {
	s  *Sigstore
	at time.Time // zero: now
}

func (r virtualRekor) CreateLogEntry(params *entries.CreateLogEntryParams, _ ...entries.ClientOption) (*entries.CreateLogEntryCreated, error) {
	ctx := params.Context
	if ctx == nil {
		ctx = context.Background()
	}
	impl, err := rekortypes.CreateVersionedEntry(params.ProposedEntry)
	if err != nil {
		return nil, err
	}
	body, err := rekortypes.CanonicalizeEntry(ctx, impl)
	if err != nil {
		return nil, err
	}
	r.s.mu.Lock()
	r.s.logIndex++
	index := r.s.logIndex
	r.s.mu.Unlock()
	r.s.mu.Lock()
	clock := r.s.logClock
	r.s.mu.Unlock()
	integrated := time.Now().Unix()
	switch {
	case !r.at.IsZero():
		integrated = r.at.Unix()
	case clock != nil:
		integrated = clock().Unix()
	}
	logID, err := r.s.virtual.RekorLogID()
	if err != nil {
		return nil, err
	}
	b64 := base64.StdEncoding.EncodeToString(body)
	set, err := r.s.virtual.RekorSignPayload(tlog.RekorPayload{Body: b64, IntegratedTime: integrated, LogIndex: index, LogID: logID})
	if err != nil {
		return nil, err
	}
	proof, err := r.s.virtual.GetInclusionProof(body)
	if err != nil {
		return nil, err
	}
	leaf := sha256.Sum256(append([]byte{0}, body...))
	uuid := hex.EncodeToString(leaf[:])
	return &entries.CreateLogEntryCreated{ETag: uuid, Payload: models.LogEntry{uuid: models.LogEntryAnon{
		Body: b64, IntegratedTime: conv.Pointer(integrated), LogID: conv.Pointer(logID), LogIndex: conv.Pointer(index),
		Verification: &models.LogEntryAnonVerification{SignedEntryTimestamp: set, InclusionProof: proof},
	}}}, nil
}

// keyPairSigner is a sign.Keypair over a long-lived key, with cosign's hint
// (base64 SHA-256 of the DER public key).
type keyPairSigner struct{ k *KeyPair }

func (k keyPairSigner) GetHashAlgorithm() protocommon.HashAlgorithm {
	return protocommon.HashAlgorithm_SHA2_256
}
func (k keyPairSigner) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
}
func (k keyPairSigner) GetHint() []byte {
	der, _ := x509.MarshalPKIXPublicKey(k.k.Private.Public())
	h := sha256.Sum256(der)
	return []byte(base64.StdEncoding.EncodeToString(h[:]))
}
func (k keyPairSigner) GetKeyAlgorithm() string          { return "ECDSA" }
func (k keyPairSigner) GetPublicKey() crypto.PublicKey   { return k.k.Private.Public() }
func (k keyPairSigner) GetPublicKeyPem() (string, error) { return k.k.PublicKeyPEM, nil }
func (k keyPairSigner) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	h := sha256.Sum256(data)
	sig, err := ecdsa.SignASN1(rand.Reader, k.k.Private, h[:])
	return sig, h[:], err
}

// Signer says how a test signature is made.
type Signer struct {
	// Key signs with a long-lived key; when nil, signing is keyless through
	// Sigstore with Identity.
	Key      *KeyPair
	Sigstore *Sigstore
	Identity Identity
	// TLog uploads to the Sigstore's transparency log (Sigstore required,
	// also for key signing), as cosign does unless --tlog-upload=false.
	TLog bool
	// Timestamp adds an RFC 3161 timestamp from the Sigstore's TSA.
	Timestamp bool
	// LogTime is the integrated time the transparency log records; zero
	// means the log's clock (SetLogClock). Within the last 30 days (the test
	// log's validity), it models a signature made that long ago; keyless,
	// the certificate (Identity.NotBefore/NotAfter) must cover it, and the
	// test CA lives 24 hours.
	LogTime time.Time
	// Covers is the digest the signed payload names; zero means the digest
	// being signed. Another image's digest models a signature copied from it.
	Covers v1.Hash
	// Tamper rewrites the serialized bundle (or a legacy layer's payload)
	// after signing.
	Tamper func([]byte) []byte
}

func (s Signer) keypair(tb testing.TB) (sign.Keypair, sign.BundleOptions) {
	tb.Helper()
	var opts sign.BundleOptions
	var kp sign.Keypair
	if s.Key != nil {
		kp = keyPairSigner{s.Key}
	} else {
		if s.Sigstore == nil {
			tb.Fatal("keyless signing needs a Sigstore")
		}
		ek, err := sign.NewEphemeralKeypair(nil)
		if err != nil {
			tb.Fatal(err)
		}
		kp = ek
		opts.CertificateProvider = virtualFulcio{s: s.Sigstore, id: s.Identity}
	}
	if s.TLog {
		if s.Sigstore == nil {
			tb.Fatal("a transparency log entry needs a Sigstore")
		}
		opts.TransparencyLogs = []sign.Transparency{sign.NewRekor(&sign.RekorOptions{Client: virtualRekor{s: s.Sigstore, at: s.LogTime}, Version: 1})}
	}
	return kp, opts
}

// bundle signs content into a Sigstore bundle with sigstore-go's bundle
// builder, as cosign v3's SignData does; the TSA timestamp is added the way
// sigstore-go adds a remote TSA's answer.
func (s Signer) bundle(tb testing.TB, content sign.Content) *protobundle.Bundle {
	tb.Helper()
	kp, opts := s.keypair(tb)
	b, err := sign.Bundle(content, kp, opts)
	if err != nil {
		tb.Fatalf("signing bundle: %v", err)
	}
	if s.Timestamp {
		if s.Sigstore == nil {
			tb.Fatal("a signed timestamp needs a Sigstore")
		}
		var sig []byte
		if env := b.GetDsseEnvelope(); env != nil {
			sig = env.GetSignatures()[0].GetSig()
		} else {
			sig = b.GetMessageSignature().GetSignature()
		}
		ts, err := s.Sigstore.virtual.TimestampResponse(sig)
		if err != nil {
			tb.Fatal(err)
		}
		b.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts}},
		}
	}
	return b
}

func (s Signer) covers(d v1.Hash) v1.Hash {
	if s.Covers != (v1.Hash{}) {
		return s.Covers
	}
	return d
}

// Statement is the in-toto statement cosign v3 writes: subject = the image
// digest (name = repository), the given predicate type and predicate.
func Statement(repo name.Repository, d v1.Hash, predicateType string, predicate any) []byte {
	st := map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": repo.Name(), "digest": map[string]string{d.Algorithm: d.Hex}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	}
	raw, err := json.Marshal(st)
	if err != nil {
		panic(err)
	}
	return raw
}

// SignBundle signs digest as `cosign sign` (v3, new bundle format) does: a
// DSSE envelope over an in-toto statement with the cosign sign predicate,
// attached as an OCI 1.1 referrer. On a registry with the referrers API it is
// found through the API; on one without (NewRegistryWithoutReferrersAPI) the
// client maintains the `sha256-<hex>` referrers tag index instead.
func (r *Registry) SignBundle(tb testing.TB, repo string, d v1.Hash, s Signer) {
	tb.Helper()
	r.AttestBundle(tb, repo, d, s, CosignSignPredicateType, map[string]any{})
}

// AttestBundle attaches an attestation as `cosign attest` (v3) does.
func (r *Registry) AttestBundle(tb testing.TB, repo string, d v1.Hash, s Signer, predicateType string, predicate any) {
	tb.Helper()
	rp := r.repository(tb, repo)
	stmt := Statement(rp, s.covers(d), predicateType, predicate)
	b := s.bundle(tb, &sign.DSSEData{Data: stmt, PayloadType: "application/vnd.in-toto+json"})
	raw, err := protojson.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	if s.Tamper != nil {
		raw = s.Tamper(raw)
	}
	r.WriteBundle(tb, repo, d, raw, predicateType)
}

// SignBlobBundle signs blob (e.g. an image manifest's bytes) as `cosign
// sign-blob` does, a message signature over its digest, and attaches the
// bundle to d as a referrer. cosign does not store image signatures this
// way; verifiers may still meet such bundles.
func (r *Registry) SignBlobBundle(tb testing.TB, repo string, d v1.Hash, s Signer, blob []byte) {
	tb.Helper()
	b := s.bundle(tb, &sign.PlainData{Data: blob})
	raw, err := protojson.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	r.WriteBundle(tb, repo, d, raw, CosignSignPredicateType)
}

// WriteBundle attaches raw bundle bytes to d as a referrer, exactly as
// cosign v3's ociremote.WriteAttestationNewBundleFormat stores them.
func (r *Registry) WriteBundle(tb testing.TB, repo string, d v1.Hash, bundleJSON []byte, predicateType string) {
	tb.Helper()
	rp := r.repository(tb, repo)
	if err := ociremote.WriteAttestationNewBundleFormat(rp.Digest(d.String()), bundleJSON, predicateType, ociremote.WithRemoteOptions(r.auth())); err != nil {
		tb.Fatalf("attaching bundle: %v", err)
	}
	r.ResetRequests()
}

// SignLegacy signs digest the pre-bundle way cosign v3 still supports
// (--new-bundle-format=false): a simple-signing payload in a layer of the
// `sha256-<hex>.sig` image, with certificate, Rekor bundle and timestamp in
// the layer annotations.
func (r *Registry) SignLegacy(tb testing.TB, repo string, d v1.Hash, s Signer) {
	tb.Helper()
	rp := r.repository(tb, repo)
	payload, err := (&sigpayload.Cosign{Image: rp.Digest(s.covers(d).String())}).MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	b := s.bundle(tb, &sign.PlainData{Data: payload})
	if s.Tamper != nil {
		payload = s.Tamper(payload)
	}
	opts := legacyOptions(tb, b)
	sig, err := static.NewSignature(payload, base64.StdEncoding.EncodeToString(b.GetMessageSignature().GetSignature()), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	se := ociremote.SignedUnknown(rp.Digest(d.String()), ociremote.WithRemoteOptions(r.auth()))
	newSE, err := mutate.AttachSignatureToEntity(se, sig)
	if err != nil {
		tb.Fatal(err)
	}
	if err := ociremote.WriteSignatures(rp, newSE, ociremote.WithRemoteOptions(r.auth())); err != nil {
		tb.Fatalf("writing .sig: %v", err)
	}
	r.ResetRequests()
}

// AttestLegacy attaches an attestation the pre-bundle way: the DSSE
// envelope in a layer of the `sha256-<hex>.att` image.
func (r *Registry) AttestLegacy(tb testing.TB, repo string, d v1.Hash, s Signer, predicateType string, predicate any) {
	tb.Helper()
	rp := r.repository(tb, repo)
	stmt := Statement(rp, s.covers(d), predicateType, predicate)
	b := s.bundle(tb, &sign.DSSEData{Data: stmt, PayloadType: "application/vnd.in-toto+json"})
	env, err := json.Marshal(b.GetDsseEnvelope())
	if err != nil {
		tb.Fatal(err)
	}
	if s.Tamper != nil {
		env = s.Tamper(env)
	}
	opts := append(legacyOptions(tb, b),
		static.WithLayerMediaType(ctypes.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": predicateType}))
	att, err := static.NewAttestation(env, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	se := ociremote.SignedUnknown(rp.Digest(d.String()), ociremote.WithRemoteOptions(r.auth()))
	newSE, err := mutate.AttachAttestationToEntity(se, att)
	if err != nil {
		tb.Fatal(err)
	}
	if err := ociremote.WriteAttestations(rp, newSE, ociremote.WithRemoteOptions(r.auth())); err != nil {
		tb.Fatalf("writing .att: %v", err)
	}
	r.ResetRequests()
}

// legacyOptions carries a bundle's certificate, Rekor entry and timestamp
// into cosign's layer annotations, as cosign v3's sign and attest do.
func legacyOptions(tb testing.TB, b *protobundle.Bundle) []static.Option {
	tb.Helper()
	var opts []static.Option
	if c := b.GetVerificationMaterial().GetCertificate(); c != nil {
		cert, err := x509.ParseCertificate(c.GetRawBytes())
		if err != nil {
			tb.Fatal(err)
		}
		certPEM, err := cryptoutils.MarshalCertificateToPEM(cert)
		if err != nil {
			tb.Fatal(err)
		}
		opts = append(opts, static.WithCertChain(certPEM, nil))
	}
	if ts := b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps(); len(ts) > 0 {
		opts = append(opts, static.WithRFC3161Timestamp(cbundle.TimestampToRFC3161Timestamp(ts[0].GetSignedTimestamp())))
	}
	if es := b.GetVerificationMaterial().GetTlogEntries(); len(es) > 0 {
		e := es[0]
		opts = append(opts, static.WithBundle(&cbundle.RekorBundle{
			SignedEntryTimestamp: e.GetInclusionPromise().GetSignedEntryTimestamp(),
			Payload: cbundle.RekorPayload{
				Body: base64.StdEncoding.EncodeToString(e.GetCanonicalizedBody()), IntegratedTime: e.GetIntegratedTime(),
				LogIndex: e.GetLogIndex(), LogID: hex.EncodeToString(e.GetLogId().GetKeyId()),
			},
		}))
	}
	return opts
}

// TamperBundlePayload rewrites a bundle's DSSE payload (the signed
// statement) with replace, keeping the signature: what an attacker who edits
// a stored bundle produces.
func TamperBundlePayload(replace func(statement []byte) []byte) func([]byte) []byte {
	return TamperBundleJSON(func(b map[string]any) {
		env := b["dsseEnvelope"].(map[string]any)
		payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
		if err != nil {
			panic(err)
		}
		env["payload"] = base64.StdEncoding.EncodeToString(replace(payload))
	})
}

// TamperBundleJSON edits a bundle's JSON (protojson field names, e.g.
// verificationMaterial.tlogEntries[0].integratedTime) after signing.
func TamperBundleJSON(edit func(bundle map[string]any)) func([]byte) []byte {
	return func(raw []byte) []byte {
		var b map[string]any
		if err := json.Unmarshal(raw, &b); err != nil {
			panic(err)
		}
		edit(b)
		out, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		return out
	}
}

func (r *Registry) repository(tb testing.TB, repo string) name.Repository {
	tb.Helper()
	rp, err := name.NewRepository(r.Host+"/"+repo, name.WeakValidation)
	if err != nil {
		tb.Fatal(err)
	}
	return rp
}

// NewRegistryWithoutReferrersAPI starts a registry that answers the OCI 1.1
// referrers API with 404, as distribution 2.8 (Debian's docker-registry)
// does, so clients fall back to the `sha256-<hex>` referrers tag.
func NewRegistryWithoutReferrersAPI(tb testing.TB) *Registry {
	tb.Helper()
	r := &Registry{}
	inner := ggcrregistry.New(ggcrregistry.Logger(discardLogger()))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests = append(r.requests, Request{Method: req.Method, Path: req.URL.Path})
		r.mu.Unlock()
		if strings.Contains(req.URL.Path, "/referrers/") {
			http.NotFound(w, req) // distribution 2.8 has no such route
			return
		}
		inner.ServeHTTP(w, req)
	}))
	r.Host = strings.TrimPrefix(r.Server.URL, "http://")
	tb.Cleanup(r.Server.Close)
	return r
}

// Tags lists a repository's tags (for asserting storage forms).
func (r *Registry) Tags(tb testing.TB, repo string) []string {
	tb.Helper()
	tags, err := remote.List(r.repository(tb, repo), r.auth())
	if err != nil {
		tb.Fatal(err)
	}
	r.ResetRequests()
	return tags
}

// Referrers lists the referrers the registry's API reports for d.
func (r *Registry) Referrers(tb testing.TB, repo string, d v1.Hash) []v1.Descriptor {
	tb.Helper()
	idx, err := remote.Referrers(r.repository(tb, repo).Digest(d.String()), r.auth())
	if err != nil {
		tb.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		tb.Fatal(err)
	}
	r.ResetRequests()
	return m.Manifests
}

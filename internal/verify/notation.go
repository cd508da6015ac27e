package verify

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/revocation"
	crlutil "github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	revocationresult "github.com/notaryproject/notation-core-go/revocation/result"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	notationverifier "github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// NotationAuthority trusts Notary Project signatures (what `notation sign`,
// Azure Key Vault and AWS Signer write) whose certificate chain leads to
// CertificatesPEM and whose signer is one of TrustedIdentities. It is a
// Notary Project trust policy of level strict with one trust store.
type NotationAuthority struct {
	// CertificatesPEM are the trust anchors: CA certificates ("ca") or
	// signing-authority certificates ("signingAuthority"), in PEM.
	CertificatesPEM string
	// TrustStoreType is "ca" (signatures of the notary.x509 scheme) or
	// "signingAuthority" (notary.x509.signingAuthority).
	TrustStoreType string
	// TrustedIdentities are "x509.subject: <DN>" entries the signing
	// certificate's subject must contain, or the single entry "*".
	TrustedIdentities []string
	// TSACertificatesPEM are RFC 3161 timestamp root certificates; with
	// them every signature must carry a timestamp they vouch for, and a
	// certificate that expired after the timestamp still verifies.
	TSACertificatesPEM string
	// Revocation is "enforce", "log" or "skip" (OCSP / CRL checks of the
	// signing and timestamping chains).
	Revocation string
}

// NotationDetails describe a verified Notary Project signature.
type NotationDetails struct {
	// Envelope is "jws" or "cose".
	Envelope string
	// SigningScheme is "notary.x509" or "notary.x509.signingAuthority".
	SigningScheme string
	// SigningTime is the time the signer claims (authentic for the
	// signing-authority scheme only).
	SigningTime time.Time
	// TimestampAuthority is the subject of the RFC 3161 timestamp's signer
	// and TimestampTime its verified time; empty when the signature was not
	// timestamped or no tsa_certificates_pem were given.
	TimestampAuthority string
	TimestampTime      time.Time
	// ManifestDigest is the digest of the signature manifest.
	ManifestDigest string
	// Revocation says what the revocation check found: "good", "skipped",
	// or the failure that was only logged.
	Revocation string
}

const (
	// NotationArtifactType is the artifact type of a Notary Project
	// signature manifest (its config media type).
	NotationArtifactType = "application/vnd.cncf.notary.signature"
	// maxNotationEnvelope bounds one signature envelope (a JWS or COSE
	// envelope with its certificate chain and timestamp is a few KiB).
	maxNotationEnvelope = 4 << 20
	// maxNotationManifest bounds a signature manifest.
	maxNotationManifest = 4 << 20
	// maxNotationSignatures bounds the Notary Project signatures examined
	// per digest, as `notation verify --max-signatures` (default 100) does;
	// past it the verification fails rather than judge part of the list.
	maxNotationSignatures = 100
	// headerVerificationPlugin is the critical attribute naming a
	// verification plugin (AWS Signer writes it).
	headerVerificationPlugin = "io.cncf.notary.verificationPlugin"
	// notationTrustStore names the in-memory trust stores.
	notationTrustStore = "imageguard"
	// revocationTimeout bounds one OCSP or CRL request.
	revocationTimeout = 10 * time.Second
)

// awsSignerUnsupported is why a signature that names a verification plugin
// is refused.
const awsSignerUnsupported = "the signature names the verification plugin %q (AWS Signer signatures name com.amazonaws.signer.notation.plugin): " +
	"imageguard verifies Notary Project signatures in process and runs no plugin binaries, and the AWS Signer plugin's Go module " +
	"(github.com/aws/aws-signer-notation-plugin) is not served by the Go module proxy, so it cannot be linked in. " +
	"Signatures that need a verification plugin are not supported; verify them with the notation CLI and its plugin, or sign with a certificate from your own CA"

// notationAuthority is a NotationAuthority ready to verify with.
type notationAuthority struct {
	spec     *NotationAuthority
	verifier notation.Verifier
	anchors  []*x509.Certificate
}

// memoryTrustStore is a Notary Project trust store held in memory.
type memoryTrustStore map[truststore.Type][]*x509.Certificate

func (m memoryTrustStore) GetCertificates(_ context.Context, t truststore.Type, name string) ([]*x509.Certificate, error) {
	if name != notationTrustStore || len(m[t]) == 0 {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("no certificates of trust store type %s", t)}
	}
	return m[t], nil
}

// parseCertificatesPEM reads every CERTIFICATE block; anything else fails.
func parseCertificatesPEM(attr, text string) ([]*x509.Certificate, error) {
	rest := []byte(strings.TrimSpace(text))
	var out []*x509.Certificate
	for len(rest) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("%s is not PEM: give certificates as \"-----BEGIN CERTIFICATE-----\" blocks", attr)
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s holds a %q PEM block; give only certificates", attr, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: a certificate does not parse: %w", attr, err)
		}
		out = append(out, c)
		rest = []byte(strings.TrimSpace(string(rest)))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", attr)
	}
	return out, nil
}

func prepareNotation(name string, n *NotationAuthority) (*notationAuthority, error) {
	store := memoryTrustStore{}
	var storeType truststore.Type
	switch n.TrustStoreType {
	case "ca":
		storeType = truststore.TypeCA
	case "signingAuthority":
		storeType = truststore.TypeSigningAuthority
	default:
		return nil, fmt.Errorf("authority %q: notation trust_store_type must be \"ca\" or \"signingAuthority\", not %q", name, n.TrustStoreType)
	}
	anchors, err := parseCertificatesPEM("certificates_pem", n.CertificatesPEM)
	if err != nil {
		return nil, fmt.Errorf("authority %q: %w", name, err)
	}
	if err := truststore.ValidateCertificates(anchors); err != nil {
		return nil, fmt.Errorf("authority %q: certificates_pem: %w; a trust store holds CA certificates or self-signed signing certificates", name, err)
	}
	store[storeType] = anchors
	stores := []string{string(storeType) + ":" + notationTrustStore}
	if strings.TrimSpace(n.TSACertificatesPEM) != "" {
		tsa, err := parseCertificatesPEM("tsa_certificates_pem", n.TSACertificatesPEM)
		if err != nil {
			return nil, fmt.Errorf("authority %q: %w", name, err)
		}
		for _, c := range tsa {
			if c.CheckSignatureFrom(c) != nil || string(c.RawSubject) != string(c.RawIssuer) {
				return nil, fmt.Errorf("authority %q: tsa_certificates_pem: %q is not a self-signed root certificate; the Notary Project trusts timestamp authorities by their root", name, c.Subject)
			}
		}
		store[truststore.TypeTSA] = tsa
		stores = append(stores, string(truststore.TypeTSA)+":"+notationTrustStore)
	}
	if len(n.TrustedIdentities) == 0 {
		return nil, fmt.Errorf("authority %q: notation needs trusted_identities, e.g. [\"x509.subject: C=US, O=acme, CN=release\"]; write [\"*\"] to trust every signer under the trust store", name)
	}
	for _, id := range n.TrustedIdentities {
		if id != "*" && !strings.HasPrefix(id, "x509.subject:") {
			return nil, fmt.Errorf("authority %q: trusted identity %q: write \"x509.subject: <distinguished name>\" or \"*\"", name, id)
		}
	}
	var action trustpolicy.ValidationAction
	switch n.Revocation {
	case "enforce":
		action = trustpolicy.ActionEnforce
	case "log":
		action = trustpolicy.ActionLog
	case "skip":
		action = trustpolicy.ActionSkip
	default:
		return nil, fmt.Errorf("authority %q: notation revocation must be \"enforce\", \"log\" or \"skip\", not %q", name, n.Revocation)
	}
	doc := &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name:           "imageguard",
		RegistryScopes: []string{"*"},
		SignatureVerification: trustpolicy.SignatureVerification{
			VerificationLevel: trustpolicy.LevelStrict.Name,
			Override:          map[trustpolicy.ValidationType]trustpolicy.ValidationAction{trustpolicy.TypeRevocation: action},
		},
		TrustStores:       stores,
		TrustedIdentities: n.TrustedIdentities,
	}}}
	if err := doc.Validate(); err != nil {
		return nil, fmt.Errorf("authority %q: the notation block is not a valid Notary Project trust policy: %w", name, err)
	}
	codeSigning, err := revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: revocationClient(), CRLFetcher: crlFetcher(), CertChainPurpose: purpose.CodeSigning})
	if err != nil {
		return nil, fmt.Errorf("authority %q: %w", name, err)
	}
	timestamping, err := revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: revocationClient(), CRLFetcher: crlFetcher(), CertChainPurpose: purpose.Timestamping})
	if err != nil {
		return nil, fmt.Errorf("authority %q: %w", name, err)
	}
	// notation-go always enforces the timestamping chain's revocation;
	// `revocation` governs it too, so that an offline plan with "skip" or
	// "log" does not fail on a TSA's OCSP server.
	timestamping = tsaRevocation{inner: timestamping, action: action}
	// No plugin manager: a signature that names a plugin is refused before
	// it reaches the verifier (see awsSignerUnsupported).
	v, err := notationverifier.NewWithOptions(doc, store, nil, notationverifier.VerifierOptions{
		RevocationCodeSigningValidator: codeSigning, RevocationTimestampingValidator: timestamping,
	})
	if err != nil {
		return nil, fmt.Errorf("authority %q: %w", name, err)
	}
	return &notationAuthority{spec: n, verifier: v, anchors: anchors}, nil
}

func revocationClient() *http.Client { return &http.Client{Timeout: revocationTimeout} }

func crlFetcher() crlutil.Fetcher {
	f, err := crlutil.NewHTTPFetcher(revocationClient())
	if err != nil {
		return nil // only for a nil client; the validator's default then applies
	}
	return f
}

// envelopeName is "jws" or "cose" for an envelope media type.
func envelopeName(mediaType string) string {
	switch mediaType {
	case jws.MediaTypeEnvelope:
		return "jws"
	case cose.MediaTypeEnvelope:
		return "cose"
	}
	return mediaType
}

// verifyNotation checks one Notary Project signature against a notation
// authority. The reason, when it does not verify, names the check that
// failed, in words a user can act on.
func (r *run) verifyNotation(c *notationCandidate, a *authority, target ocispec.Descriptor) (*Signature, string) {
	env, err := signature.ParseEnvelope(c.envelopeType, c.envelope)
	if err != nil {
		return nil, fmt.Sprintf("integrity: the signature envelope does not parse (%v)", err)
	}
	if content, err := env.Content(); err == nil {
		if attr, err := content.SignerInfo.ExtendedAttribute(headerVerificationPlugin); err == nil {
			return nil, fmt.Sprintf(awsSignerUnsupported, fmt.Sprint(attr.Value))
		}
	}
	ref := r.target.Context().Name() + "@" + r.req.Digest.String()
	outcome, err := a.notation.verifier.Verify(r.ctx, target, c.envelope, notation.VerifierVerifyOptions{ArtifactReference: ref, SignatureMediaType: c.envelopeType})
	if err != nil {
		return nil, notationReason(outcome, err, r.req.Digest.String(), a.notation.spec)
	}
	info := outcome.EnvelopeContent.SignerInfo
	if len(info.CertificateChain) == 0 {
		return nil, "authenticity: the signature carries no certificate"
	}
	leaf := info.CertificateChain[0]
	sum := sha256.Sum256(leaf.Raw)
	d := &NotationDetails{Envelope: envelopeName(c.envelopeType), SigningScheme: string(info.SignedAttributes.SigningScheme),
		SigningTime: info.SignedAttributes.SigningTime.UTC(), ManifestDigest: c.manifestDigest, Revocation: "good"}
	for _, res := range outcome.VerificationResults {
		if res.Type != trustpolicy.TypeRevocation || res.Error == nil {
			continue
		}
		// notation's "log" lets a revoked certificate pass too; imageguard
		// logs only a status nobody could establish: a revocation is a
		// statement that the key must not be trusted.
		if strings.Contains(res.Error.Error(), "is revoked") {
			return nil, "revoked: " + res.Error.Error() + "; revocation = \"log\" lets a status that could not be established pass, never a revoked certificate. Sign again with a certificate that is not revoked"
		}
		d.Revocation = "not established, logged: " + res.Error.Error()
	}
	if a.notation.spec.Revocation == "skip" {
		d.Revocation = "skipped"
	}
	var verified time.Time
	if a.notation.spec.TSACertificatesPEM != "" && len(info.UnsignedAttributes.TimestampSignature) > 0 {
		d.TimestampAuthority, d.TimestampTime = timestampOf(info)
		verified = d.TimestampTime
	}
	return &Signature{
		Authority: a.name, Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), KeyID: hex.EncodeToString(sum[:]),
		Format: "notation", Location: c.location, VerifiedTime: verified, TLogIndex: -1, Notation: d,
	}, ""
}

// timestampOf reads a verified timestamp's signer and time (notation-go
// verified both; this only reports them).
func timestampOf(info signature.SignerInfo) (string, time.Time) {
	tok, err := tspclient.ParseSignedToken(info.UnsignedAttributes.TimestampSignature)
	if err != nil {
		return "", time.Time{}
	}
	tst, err := tok.Info()
	if err != nil {
		return "", time.Time{}
	}
	ts, err := tst.Validate(info.Signature)
	if err != nil {
		return "", time.Time{}
	}
	subject := ""
	for _, si := range tok.SignerInfos {
		if c, err := tok.SigningCertificate(&si); err == nil {
			subject = c.Subject.String()
			break
		}
	}
	return subject, ts.Value.UTC()
}

// notationReason words a failed Notary Project verification by the check
// that failed.
func notationReason(outcome *notation.VerificationOutcome, err error, digest string, spec *NotationAuthority) string {
	var failed *notation.ValidationResult
	if outcome != nil {
		for _, res := range outcome.VerificationResults {
			if res.Error != nil && res.Action == trustpolicy.ActionEnforce {
				failed = res
				break
			}
		}
	}
	msg := err.Error()
	if failed == nil {
		if outcome != nil && outcome.EnvelopeContent != nil && msg == "content descriptor mismatch" {
			var payload struct {
				TargetArtifact struct {
					Digest string `json:"digest"`
				} `json:"targetArtifact"`
			}
			_ = json.Unmarshal(outcome.EnvelopeContent.Payload.Content, &payload)
			return fmt.Sprintf("signature for another digest: it signs %s, not %s (a signature copied from another image, or a manifest changed after signing); sign this digest",
				orNone(payload.TargetArtifact.Digest), digest)
		}
		return "not verified: " + msg
	}
	switch failed.Type {
	case trustpolicy.TypeIntegrity:
		return "integrity: the signature envelope does not verify, it is tampered or malformed (" + msg + ")"
	case trustpolicy.TypeAuthenticity:
		if strings.Contains(msg, "trusted identities") {
			subject := "(unknown)"
			if outcome.EnvelopeContent != nil && len(outcome.EnvelopeContent.SignerInfo.CertificateChain) > 0 {
				subject = outcome.EnvelopeContent.SignerInfo.CertificateChain[0].Subject.String()
			}
			return fmt.Sprintf("untrusted identity: the signing certificate's subject %q matches none of trusted_identities %q; add its subject if this signer is trusted", subject, spec.TrustedIdentities)
		}
		return fmt.Sprintf("untrusted signer: the certificate chain does not lead to certificates_pem (trust store type %q): %s; give the CA that issued the signing certificate", spec.TrustStoreType, msg)
	case trustpolicy.TypeExpiry:
		return "expired signature: " + msg + "; sign again"
	case trustpolicy.TypeAuthenticTimestamp:
		switch {
		case strings.Contains(msg, "expired"):
			hint := "sign again with a valid certificate, or timestamp signatures (notation sign --timestamp-url) and give tsa_certificates_pem"
			if spec.TSACertificatesPEM != "" {
				hint = "sign again with a valid certificate and a timestamp"
			}
			return "expired certificate: " + msg + "; " + hint
		case strings.Contains(msg, "no timestamp countersignature"):
			return "no timestamp: tsa_certificates_pem is given, so every signature must carry an RFC 3161 timestamp (notation sign --timestamp-url); this one has none"
		}
		return "authentic timestamp: " + msg
	case trustpolicy.TypeRevocation:
		if strings.Contains(msg, "is revoked") {
			return "revoked: " + msg + "; sign again with a certificate that is not revoked"
		}
		return "revocation: " + msg + ". With revocation = \"enforce\" the OCSP or CRL servers the certificates name must answer; " +
			"offline plans need revocation = \"log\" or \"skip\""
	}
	return string(failed.Type) + ": " + msg
}

// tsaRevocation applies `revocation` to the timestamping chain: "skip"
// does not ask, "log" takes a status nobody could establish as good (a
// revoked certificate still fails).
type tsaRevocation struct {
	inner  revocation.Validator
	action trustpolicy.ValidationAction
}

func (t tsaRevocation) ValidateContext(ctx context.Context, opts revocation.ValidateContextOptions) ([]*revocationresult.CertRevocationResult, error) {
	if t.action == trustpolicy.ActionSkip {
		out := make([]*revocationresult.CertRevocationResult, len(opts.CertChain))
		for i := range out {
			out[i] = &revocationresult.CertRevocationResult{Result: revocationresult.ResultNonRevokable}
		}
		return out, nil
	}
	res, err := t.inner.ValidateContext(ctx, opts)
	if err != nil || t.action != trustpolicy.ActionLog {
		return res, err
	}
	for _, r := range res {
		if r.Result == revocationresult.ResultUnknown {
			r.Result = revocationresult.ResultNonRevokable
		}
	}
	return res, nil
}

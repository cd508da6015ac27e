// Package verify checks that an image digest carries signatures and
// attestations from given authorities (a public key, a KMS key, or a keyless
// Sigstore identity), wherever cosign may have stored them: Sigstore bundles
// attached as OCI 1.1 referrers (through the referrers API or the
// `sha256-<hex>` referrers tag), and cosign's legacy `sha256-<hex>.sig` and
// `.att` tags; and Notary Project signatures (notation-go, in process) in
// the same referrers listings. A signature that does not verify is never an error: it is a
// reason in the result, in words a user can act on. Errors are kept for
// what prevents verification from being evaluated at all.
package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
)

// KeyAuthority trusts signatures made with one long-lived key.
type KeyAuthority struct {
	// PublicKeyPEM is a PKIX public key in PEM, what `cosign.pub` holds.
	PublicKeyPEM string
	// KMSRef names a KMS key in cosign syntax: hashivault://, awskms://,
	// gcpkms://, azurekms://. Its public key is fetched on first use.
	KMSRef string
}

// KeylessAuthority trusts signatures made with a Fulcio certificate for an
// OIDC identity, as cosign's --certificate-* flags select them. One of
// Issuer/IssuerRegexp and one of Subject/SubjectRegexp are required.
type KeylessAuthority struct {
	Issuer, IssuerRegexp, Subject, SubjectRegexp string
	// Optional Fulcio certificate extensions that must match exactly.
	GitHubWorkflowRepository, GitHubWorkflowRef, GitHubWorkflowTrigger, GitHubWorkflowSHA, GitHubWorkflowName string
}

// Authority is one party whose signature counts. Exactly one of Key,
// Keyless and Notation is set.
type Authority struct {
	Name    string
	Key     *KeyAuthority
	Keyless *KeylessAuthority
	// Notation trusts Notary Project signatures (OCI referrers of artifact
	// type application/vnd.cncf.notary.signature) instead of cosign's.
	Notation *NotationAuthority
}

// Options configures a Verifier.
type Options struct {
	// TrustedRootJSON is a Sigstore trusted_root.json. Empty means the public
	// good instance's trusted root, fetched through TUF (cached under
	// CacheDir) the first time a verification needs it.
	TrustedRootJSON string
	CacheDir        string
	// TLog is "required" (the default) or "optional". Optional lets key
	// signatures without a transparency-log entry pass; the log is then not
	// consulted for key authorities at all.
	TLog string
	// RemoteOptions carry credentials, transport and retries (from
	// internal/registry).
	RemoteOptions []remote.Option
	// Transport is the HTTP transport RemoteOptions use
	// (registry.Client.Transport), given separately so that referrers API
	// listings can be followed across pages on it; it replaces any
	// remote.WithTransport in RemoteOptions. Nil means go-containerregistry's
	// default transport, and then a WithTransport in RemoteOptions wins and
	// listings are read as one page.
	Transport http.RoundTripper
	// Now is the clock for the "certificate expired" check of signatures
	// that carry no proof of time; nil means time.Now. (sigstore-go and
	// cosign check validity at the logged or timestamped time themselves.)
	Now func() time.Time
}

// AttestationRequest asks for an attestation of one predicate type (a full
// URI; see PredicateTypeURI for cosign's short names).
type AttestationRequest struct {
	PredicateType string
}

// Request is one verification: a digest and the authorities to check.
type Request struct {
	Repository name.Repository
	// Digest is the digest the signature must cover (the index digest for a
	// multi-platform image).
	Digest       v1.Hash
	Authorities  []Authority
	Attestations []AttestationRequest
	// AttestationsOnly: an authority is satisfied by the requested
	// attestations it signed for this digest, without an image signature
	// (require_signature = false); at least one attestation is then needed.
	AttestationsOnly bool
	// Provenance, when set, is judged besides the authorities (none are
	// needed then): its result is Result.Provenance.
	Provenance *Provenance
}

// Signature is a verified signature.
type Signature struct {
	Authority string
	// Issuer and Subject come from a keyless certificate (OIDC issuer
	// extension, SAN); both are empty for a key signature.
	Issuer, Subject string
	// KeyID is the hex SHA-256 of the DER public key for a key signature, the
	// certificate's SubjectKeyId in hex for a keyless one.
	KeyID string
	// Format is "bundle" or "legacy".
	Format string
	// Location is where it was found: "referrers API", "referrers tag
	// sha256-…", "legacy tag sha256-….sig".
	Location string
	// IntegratedTime is the verified transparency-log time; zero when no
	// log entry was verified.
	IntegratedTime time.Time
	// VerifiedTime is the earliest time a verified transparency-log entry
	// or, for a keyless signature, a verified RFC 3161 timestamp vouches
	// for; zero when there is none (a key signature with tlog "optional").
	// A key signature's timestamp is not counted: anyone can have an old
	// signature timestamped, while a keyless certificate's short lifetime
	// ties the timestamp to the signing.
	VerifiedTime time.Time
	// TLogIndex is the verified log entry's index, -1 when none.
	TLogIndex int64
	// Notation describes a Notary Project signature (Format "notation");
	// nil for cosign's. Subject is then the signing certificate's subject
	// and Issuer its issuer, KeyID the certificate's SHA-256 fingerprint.
	Notation *NotationDetails
}

// Attestation is a verified attestation.
type Attestation struct {
	PredicateType, Authority string
	// Subject and Issuer identify a keyless signer (certificate SAN and OIDC
	// issuer), as for Signature; empty for a key.
	Subject          string
	Format, Location string
	// Predicate is the in-toto predicate as signed, for CEL conditions.
	Predicate      json.RawMessage
	Issuer, KeyID  string
	IntegratedTime time.Time
	// VerifiedTime is as for Signature: what max_age is measured from and
	// what orders several attestations of one type (newest first).
	VerifiedTime time.Time
	TLogIndex    int64
	// Provenance holds what a provenance attestation that satisfied
	// Request.Provenance says about the build; nil otherwise.
	Provenance *ProvenanceFacts
}

// AuthorityResult is what verified for one authority, and why not.
type AuthorityResult struct {
	Authority    string
	Signatures   []Signature
	Attestations []Attestation
	// Reasons say why nothing verified for this authority (no signature, or
	// a requested attestation missing): one per candidate examined.
	Reasons []string
}

// Verified reports whether the authority has a signature and every
// requested attestation.
func (a AuthorityResult) Verified(requested []AttestationRequest) bool {
	if len(a.Signatures) == 0 {
		return false
	}
	for _, r := range requested {
		found := false
		for _, at := range a.Attestations {
			if at.PredicateType == r.PredicateType {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Result is the outcome for every authority, in request order.
type Result struct {
	Authorities []AuthorityResult
	// Provenance is Request.Provenance's result: the provenance
	// attestations that satisfied it, or the reasons none did.
	Provenance *AuthorityResult
	// Searched lists every place looked, in order.
	Searched []string
}

// Verifier verifies signatures. It is safe for concurrent use and meant to
// live as long as the provider process: it keeps one registry session per
// repository and remembers which registries lack the referrers API.
type Verifier struct {
	tlogRequired bool
	now          func() time.Time
	cacheDir     string
	puller       *remote.Puller

	mu      sync.Mutex
	trusted root.TrustedMaterial // nil until needed when from TUF
	noAPI   map[string]bool      // registry host -> answered the referrers API with 404
	kmsKeys map[string]*keyMaterial
}

// New prepares a Verifier: it parses the trusted root (if given).
func New(opts Options) (*Verifier, error) {
	v := &Verifier{now: opts.Now, cacheDir: opts.CacheDir, noAPI: map[string]bool{}, kmsKeys: map[string]*keyMaterial{}}
	if v.now == nil {
		v.now = time.Now
	}
	switch opts.TLog {
	case "", "required":
		v.tlogRequired = true
	case "optional":
	default:
		return nil, fmt.Errorf("tlog must be \"required\" or \"optional\", not %q", opts.TLog)
	}
	if opts.TrustedRootJSON != "" {
		tr, err := root.NewTrustedRootFromJSON([]byte(opts.TrustedRootJSON))
		if err != nil {
			return nil, fmt.Errorf("trusted_root_json is not a Sigstore trusted root (trusted_root.json, as `cosign trusted-root create` or the TUF repository provide it): %w", err)
		}
		if len(tr.FulcioCertificateAuthorities()) == 0 && len(tr.RekorLogs()) == 0 && len(tr.TimestampingAuthorities()) == 0 {
			return nil, errors.New("trusted_root_json names no certificate authority, transparency log or timestamp authority; give a complete trusted_root.json")
		}
		v.trusted = tr
	}
	// Our own registry session: the referrers tag fallback is switched off so
	// that we can tell the referrers API from the tag (and say which one held
	// a signature). Reuse(nil) drops a caller's shared puller, whose options
	// would otherwise win.
	var ropts []remote.Option
	if opts.Transport == nil {
		ropts = append(ropts, remote.WithTransport(pagerOver(nil)))
	}
	ropts = append(ropts, opts.RemoteOptions...)
	if opts.Transport != nil {
		ropts = append(ropts, remote.WithTransport(pagerOver(opts.Transport)))
	}
	ropts = append(ropts, remote.Reuse((*remote.Puller)(nil)), remote.WithReferrersTagFallback(false))
	p, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, fmt.Errorf("registry options: %w", err)
	}
	v.puller = p
	return v, nil
}

// trustedMaterial returns the trusted root, fetching the public good one
// through TUF on first use.
func (v *Verifier) trustedMaterial() (root.TrustedMaterial, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.trusted != nil {
		return v.trusted, nil
	}
	opts := tuf.DefaultOptions()
	if v.cacheDir != "" {
		opts = opts.WithCachePath(filepath.Join(v.cacheDir, "sigstore-tuf"))
	}
	tr, err := root.FetchTrustedRootWithOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("fetching the Sigstore public good trusted root through TUF (%s): %w; give trusted_root_json to verify offline", tuf.DefaultMirror, err)
	}
	v.trusted = tr
	return tr, nil
}

// ValidateAuthority checks an authority without network access: exactly one
// kind, a parseable public key, compilable regular expressions, and the
// identity criteria cosign requires.
func ValidateAuthority(a Authority) error {
	_, err := prepareAuthority(a, 0)
	return err
}

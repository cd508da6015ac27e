package verify

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/imageguard/terraform-provider-imageguard/internal/kmsref"
)

// keyMaterial is a parsed public key.
type keyMaterial struct {
	verifier signature.Verifier
	// keyID is the hex SHA-256 of the DER public key.
	keyID string
	// hint is cosign's bundle key hint: base64 of the same hash.
	hint string
}

func newKeyMaterial(pub crypto.PublicKey) (*keyMaterial, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	v, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &keyMaterial{verifier: v, keyID: hex.EncodeToString(sum[:]), hint: base64.StdEncoding.EncodeToString(sum[:])}, nil
}

// authority is an Authority ready to check signatures against.
type authority struct {
	name    string
	key     *keyMaterial // nil for a KMS key until resolved
	kmsRef  string
	keyless *KeylessAuthority
	// notation is set for a Notary Project authority.
	notation *notationAuthority
	// identity is sigstore-go's matcher for a keyless authority.
	identity sgverify.CertificateIdentity
	// prov is set for the provenance requirement: its certificate checks
	// replace the identity's, and its predicate is judged too.
	prov *provenanceCheck
	// types are the predicate types this authority must have attested;
	// needsSig whether it must also have signed the image.
	types    []string
	needsSig bool
}

func prepareAuthority(a Authority, i int) (*authority, error) {
	out := &authority{name: a.Name}
	if out.name == "" {
		out.name = fmt.Sprintf("authority[%d]", i)
	}
	var kinds []string
	for kind, set := range map[string]bool{"key": a.Key != nil, "keyless": a.Keyless != nil, "notation": a.Notation != nil} {
		if set {
			kinds = append(kinds, kind)
		}
	}
	sort.Strings(kinds)
	switch {
	case len(kinds) > 1:
		return nil, fmt.Errorf("authority %q sets both %s; give one", out.name, strings.Join(kinds, " and "))
	case a.Notation != nil:
		n, err := prepareNotation(out.name, a.Notation)
		if err != nil {
			return nil, err
		}
		out.notation = n
	case a.Key != nil:
		k := a.Key
		switch {
		case k.PublicKeyPEM != "" && k.KMSRef != "":
			return nil, fmt.Errorf("authority %q sets both a public key and a KMS key; give one", out.name)
		case k.PublicKeyPEM != "":
			pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(strings.TrimSpace(k.PublicKeyPEM)))
			if err != nil {
				return nil, fmt.Errorf("authority %q: the public key is not a PEM-encoded PKIX public key (\"-----BEGIN PUBLIC KEY-----\", as in cosign.pub): %w", out.name, err)
			}
			out.key, err = newKeyMaterial(pub)
			if err != nil {
				return nil, fmt.Errorf("authority %q: unsupported public key: %w", out.name, err)
			}
		case k.KMSRef != "":
			if err := kmsref.Check(k.KMSRef); err != nil {
				return nil, fmt.Errorf("authority %q: %w", out.name, err)
			}
			out.kmsRef = k.KMSRef
		default:
			return nil, fmt.Errorf("authority %q: key needs a public key or a KMS key reference", out.name)
		}
	case a.Keyless != nil:
		k := a.Keyless
		if k.Issuer == "" && k.IssuerRegexp == "" {
			return nil, fmt.Errorf("authority %q: keyless needs issuer or issuer_regexp (the OIDC issuer, e.g. https://token.actions.githubusercontent.com)", out.name)
		}
		if k.Subject == "" && k.SubjectRegexp == "" {
			return nil, fmt.Errorf("authority %q: keyless needs subject or subject_regexp (the certificate identity, e.g. an email or a workflow URL)", out.name)
		}
		// sigstore-go, like cosign, searches a pattern anywhere in the value;
		// anchored, "alice@acme\.com" no longer accepts alice@acme.com.evil.io.
		if _, err := regexp.Compile(k.SubjectRegexp); err != nil {
			return nil, fmt.Errorf("authority %q: subject_regexp %q does not compile: %w", out.name, k.SubjectRegexp, err)
		}
		if _, err := regexp.Compile(k.IssuerRegexp); err != nil {
			return nil, fmt.Errorf("authority %q: issuer_regexp %q does not compile: %w", out.name, k.IssuerRegexp, err)
		}
		san, err := sgverify.NewSANMatcher(k.Subject, AnchorPattern(k.SubjectRegexp))
		if err != nil {
			return nil, fmt.Errorf("authority %q: subject_regexp %q does not compile: %w", out.name, k.SubjectRegexp, err)
		}
		iss, err := sgverify.NewIssuerMatcher(k.Issuer, AnchorPattern(k.IssuerRegexp))
		if err != nil {
			return nil, fmt.Errorf("authority %q: issuer_regexp %q does not compile: %w", out.name, k.IssuerRegexp, err)
		}
		out.identity, err = sgverify.NewCertificateIdentity(san, iss, certificate.Extensions{
			GithubWorkflowTrigger: k.GitHubWorkflowTrigger, GithubWorkflowSHA: k.GitHubWorkflowSHA, GithubWorkflowName: k.GitHubWorkflowName,
			GithubWorkflowRepository: k.GitHubWorkflowRepository, GithubWorkflowRef: k.GitHubWorkflowRef,
		})
		if err != nil {
			return nil, fmt.Errorf("authority %q: %w", out.name, err)
		}
		out.keyless = k
	default:
		return nil, fmt.Errorf("authority %q sets none of key, keyless and notation", out.name)
	}
	return out, nil
}

// kmsKey fetches a KMS key's public key once per Verifier.
func (v *Verifier) kmsKey(ctx context.Context, ref string) (*keyMaterial, error) {
	v.mu.Lock()
	if k, ok := v.kmsKeys[ref]; ok {
		v.mu.Unlock()
		return k, nil
	}
	v.mu.Unlock()
	sv, err := kms.Get(ctx, ref, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("opening KMS key %s: %w", ref, err)
	}
	pub, err := sv.PublicKey(sigopts.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("fetching the public key of KMS key %s: %w", ref, err)
	}
	k, err := newKeyMaterial(pub)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %w", ref, err)
	}
	v.mu.Lock()
	v.kmsKeys[ref] = k
	v.mu.Unlock()
	return k, nil
}

// required describes what a keyless authority asks for, for mismatch reasons.
func (a *authority) required() string {
	k := a.keyless
	var parts []string
	if k.Issuer != "" {
		parts = append(parts, "issuer "+k.Issuer)
	}
	if k.IssuerRegexp != "" {
		parts = append(parts, "issuer-regexp "+k.IssuerRegexp)
	}
	if k.Subject != "" {
		parts = append(parts, "subject "+k.Subject)
	}
	if k.SubjectRegexp != "" {
		parts = append(parts, "subject-regexp "+k.SubjectRegexp)
	}
	for _, e := range a.extensionPairs() {
		if e.want != "" {
			parts = append(parts, e.name+" "+e.want)
		}
	}
	return strings.Join(parts, " ")
}

type extensionPair struct{ name, want string }

func (a *authority) extensionPairs() []extensionPair {
	k := a.keyless
	return []extensionPair{
		{"github-workflow-repository", k.GitHubWorkflowRepository},
		{"github-workflow-ref", k.GitHubWorkflowRef},
		{"github-workflow-trigger", k.GitHubWorkflowTrigger},
		{"github-workflow-sha", k.GitHubWorkflowSHA},
		{"github-workflow-name", k.GitHubWorkflowName},
	}
}

// checkIdentity matches a verified certificate against a keyless authority,
// with sigstore-go's matcher, and words a mismatch as found vs required.
func (a *authority) checkIdentity(s certificate.Summary) string {
	if a.prov != nil {
		return a.prov.checkCertificate(s) // issuer compared without case, as gh does
	}
	if err := a.identity.Verify(s); err == nil {
		return ""
	}
	found := fmt.Sprintf("certificate has issuer %s subject %s", orNone(s.Issuer), orNone(s.SubjectAlternativeName))
	got := map[string]string{
		"github-workflow-repository": s.GithubWorkflowRepository, "github-workflow-ref": s.GithubWorkflowRef,
		"github-workflow-trigger": s.GithubWorkflowTrigger, "github-workflow-sha": s.GithubWorkflowSHA, "github-workflow-name": s.GithubWorkflowName,
	}
	for _, e := range a.extensionPairs() {
		if e.want != "" {
			found += fmt.Sprintf(" %s %s", e.name, orNone(got[e.name]))
		}
	}
	msg := fmt.Sprintf("identity mismatch: %s; required %s", found, a.required())
	for _, p := range []struct{ attr, what, pattern, value string }{
		{"subject_regexp", "subject", a.keyless.SubjectRegexp, s.SubjectAlternativeName},
		{"issuer_regexp", "issuer", a.keyless.IssuerRegexp, s.Issuer},
	} {
		if partialMatch(p.pattern, p.value) {
			msg += fmt.Sprintf(". Note: %s matches only part of the %s %q; patterns must match the whole value (imageguard reads %q as %q). "+
				"If anything may follow, end the pattern with .*", p.attr, p.what, p.value, p.pattern, AnchorPattern(p.pattern))
		}
	}
	return msg
}

// AnchorPattern makes an identity pattern match the whole value:
// `^(?:pattern)$`. An empty pattern stays empty (not set); a pattern that
// is already anchored means the same after it.
func AnchorPattern(pattern string) string {
	if pattern == "" {
		return ""
	}
	return "^(?:" + pattern + ")$"
}

// partialMatch reports whether pattern matches somewhere in value but not
// all of it: what an unanchored pattern used to accept.
func partialMatch(pattern, value string) bool {
	if pattern == "" {
		return false
	}
	re, err := regexp.Compile(pattern)
	if err != nil || !re.MatchString(value) {
		return false
	}
	return !regexp.MustCompile(AnchorPattern(pattern)).MatchString(value)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// summarize reads issuer, SAN and extensions from a certificate.
func summarize(c *x509.Certificate) (certificate.Summary, error) {
	return certificate.SummarizeCertificate(c)
}

// keyTrustedMaterial adds a long-lived key to a trusted root (which may be
// empty when the transparency log is not consulted).
type keyTrustedMaterial struct {
	root.TrustedMaterial
	key root.TimeConstrainedVerifier
}

func (k *keyTrustedMaterial) PublicKeyVerifier(string) (root.TimeConstrainedVerifier, error) {
	return k.key, nil
}

func withKey(base root.TrustedMaterial, km *keyMaterial) root.TrustedMaterial {
	if base == nil {
		base = &root.BaseTrustedMaterial{}
	}
	return &keyTrustedMaterial{TrustedMaterial: base, key: root.NewExpiringKey(km.verifier, time.Time{}, time.Time{})}
}

var errNoAuthorities = errors.New("no authority given: add a key, keyless or notation authority")

// keylessWithoutProofOfTime rejects a Fulcio-certificate signature with
// neither a transparency-log entry nor a signed timestamp, whatever `tlog`
// says: a short-lived certificate only means something together with a
// trusted time inside its lifetime, and the verifier's clock is not one.
const keylessWithoutProofOfTime = "keyless signature without a transparency log entry or a signed timestamp: nothing proves it was made while its certificate was valid. " +
	"Keyless signatures always need one of the two, whatever `tlog` says; sign with the transparency log (cosign's default) or a timestamp authority"

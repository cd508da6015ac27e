package verify_test

import (
	"context"
	"encoding/pem"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// notationVerifier needs no Sigstore trust material: a notation-only
// request must not fetch the public-good root through TUF (offline).
func notationVerifier(t testing.TB) *verify.Verifier {
	t.Helper()
	v, err := verify.New(verify.Options{RemoteOptions: []remote.Option{remote.WithAuth(authn.Anonymous)}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func notationAuthority(name string, ca *acctest.NotaryCA, identities ...string) verify.Authority {
	return verify.Authority{Name: name, Notation: &verify.NotationAuthority{
		CertificatesPEM: ca.RootPEM, TrustStoreType: "ca", TrustedIdentities: identities, Revocation: "enforce",
	}}
}

func notationResult(t *testing.T, f *fixture, auths ...verify.Authority) verify.AuthorityResult {
	t.Helper()
	res, err := notationVerifier(t).Verify(context.Background(), verify.Request{Repository: f.repo, Digest: f.digest, Authorities: auths})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return res.Authorities[0]
}

func wantReason(t *testing.T, ar verify.AuthorityResult, parts ...string) {
	t.Helper()
	if len(ar.Signatures) != 0 {
		t.Fatalf("verified, want refused: %+v", ar.Signatures)
	}
	all := strings.Join(ar.Reasons, "\n")
	for _, p := range parts {
		if !strings.Contains(all, p) {
			t.Errorf("reasons lack %q:\n%s", p, all)
		}
	}
}

// Signed by a trusted CA's certificate with a pinned identity: passes, in
// both envelopes, found through the referrers API and through the
// referrers tag that notation writes on registries without it.
func TestNotation_signedTrusted(t *testing.T) {
	ca := acctest.NewNotaryCA(t, "acme")
	cert := ca.Issue(t, "release", acctest.NotaryCertOptions{})
	for _, tc := range []struct {
		envelope string
		tag      bool
	}{{"jws", false}, {"cose", false}, {"jws", true}, {"cose", true}} {
		t.Run(tc.envelope+map[bool]string{true: "/referrers-tag", false: "/referrers-api"}[tc.tag], func(t *testing.T) {
			reg := acctest.NewRegistry(t)
			if tc.tag {
				reg = acctest.NewRegistryWithoutReferrersAPI(t)
			}
			f := newFixture(t, reg)
			acctest.NotarySign(t, reg.Host, "team/api", f.digest, cert, acctest.NotarySignOptions{Envelope: tc.envelope, TagSchema: tc.tag})
			ar := notationResult(t, f, notationAuthority("release", ca, cert.Identity))
			if len(ar.Signatures) != 1 {
				t.Fatalf("want one verified signature, got %+v (reasons %q)", ar.Signatures, ar.Reasons)
			}
			s := ar.Signatures[0]
			if s.Format != "notation" || s.Notation == nil || s.Notation.Envelope != tc.envelope {
				t.Fatalf("format %q details %+v, want notation/%s", s.Format, s.Notation, tc.envelope)
			}
			if s.Subject != "CN=release,O=acme,ST=WA,C=US" || s.Notation.SigningScheme != "notary.x509" || s.Notation.SigningTime.IsZero() || s.Notation.TimestampAuthority != "" {
				t.Errorf("signature details: subject %q %+v", s.Subject, s.Notation)
			}
			wantLoc := "referrers API"
			if tc.tag {
				wantLoc = "referrers tag sha256-" + f.digest.Hex
			}
			if s.Location != wantLoc {
				t.Errorf("location %q, want %q", s.Location, wantLoc)
			}
		})
	}
}

// Each way a Notary Project signature can fail names the check; a control
// with the right settings passes on the same image.
func TestNotation_refused(t *testing.T) {
	ca := acctest.NewNotaryCA(t, "acme")
	other := acctest.NewNotaryCA(t, "evil")
	cert := ca.Issue(t, "release", acctest.NotaryCertOptions{})

	t.Run("signed by another CA", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		rogue := other.Issue(t, "release", acctest.NotaryCertOptions{})
		acctest.NotarySign(t, f.reg.Host, "team/api", f.digest, rogue, acctest.NotarySignOptions{})
		wantReason(t, notationResult(t, f, notationAuthority("release", ca, cert.Identity)), "untrusted signer", "certificates_pem", "Notary Project signature sha256:")
		// control: trusting that CA verifies it
		if ar := notationResult(t, f, notationAuthority("release", other, rogue.Identity)); len(ar.Signatures) != 1 {
			t.Fatalf("control: %q", ar.Reasons)
		}
	})
	t.Run("wrong identity", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		dev := ca.Issue(t, "dev", acctest.NotaryCertOptions{})
		acctest.NotarySign(t, f.reg.Host, "team/api", f.digest, dev, acctest.NotarySignOptions{Envelope: "cose"})
		wantReason(t, notationResult(t, f, notationAuthority("release", ca, cert.Identity)), "untrusted identity", `"CN=dev,O=acme,ST=WA,C=US"`, "trusted_identities")
		if ar := notationResult(t, f, notationAuthority("release", ca, "*")); len(ar.Signatures) != 1 {
			t.Fatalf("control with \"*\": %q", ar.Reasons)
		}
	})
	t.Run("signature for another digest", func(t *testing.T) {
		for _, tag := range []bool{false, true} {
			reg := acctest.NewRegistry(t)
			if tag {
				reg = acctest.NewRegistryWithoutReferrersAPI(t)
			}
			f := newFixture(t, reg)
			otherDigest := f.other(t)
			acctest.NotarySign(t, reg.Host, "team/api", otherDigest, cert, acctest.NotarySignOptions{TagSchema: tag})
			acctest.NotaryCopySignatures(t, reg.Host, "team/api", otherDigest, f.digest, tag)
			wantReason(t, notationResult(t, f, notationAuthority("release", ca, cert.Identity)), "signature for another digest", "it signs "+otherDigest.String(), "not "+f.digest.String())
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		wantReason(t, notationResult(t, f, notationAuthority("release", ca, cert.Identity)), "no signature found", "referrers API")
	})
	t.Run("verification plugin (AWS Signer)", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		acctest.NotarySign(t, f.reg.Host, "team/api", f.digest, cert, acctest.NotarySignOptions{VerificationPlugin: "com.amazonaws.signer.notation.plugin"})
		wantReason(t, notationResult(t, f, notationAuthority("release", ca, cert.Identity)),
			`verification plugin "com.amazonaws.signer.notation.plugin"`, "not served by the Go module proxy")
	})
	t.Run("junk signatures do not hide the real one", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		acctest.NotaryPushJunk(t, f.reg.Host, "team/api", f.digest, 5, false)
		acctest.NotarySign(t, f.reg.Host, "team/api", f.digest, cert, acctest.NotarySignOptions{})
		if ar := notationResult(t, f, notationAuthority("release", ca, cert.Identity)); len(ar.Signatures) != 1 {
			t.Fatalf("want the real signature verified among junk: %q", ar.Reasons)
		}
	})
	t.Run("more signatures than the bound", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		acctest.NotaryPushJunk(t, f.reg.Host, "team/api", f.digest, 101, false)
		_, err := notationVerifier(t).Verify(context.Background(), verify.Request{Repository: f.repo, Digest: f.digest,
			Authorities: []verify.Authority{notationAuthority("release", ca, cert.Identity)}})
		if err == nil || !strings.Contains(err.Error(), "101 Notary Project signatures, more than the 100") {
			t.Fatalf("want the listing refused, got %v", err)
		}
	})
}

// A certificate that expired after signing: without a timestamp authority
// the signature no longer verifies; with one, a timestamped signature
// still does (and a signature without a timestamp does not).
func TestNotation_expiredCertificateAndTimestamp(t *testing.T) {
	ca := acctest.NewNotaryCA(t, "acme")
	tsa := acctest.NewNotaryTSA(t)
	short := ca.Issue(t, "release", acctest.NotaryCertOptions{Lifetime: 3 * time.Second})
	stamped := newFixture(t, acctest.NewRegistry(t))
	acctest.NotarySign(t, stamped.reg.Host, "team/api", stamped.digest, short, acctest.NotarySignOptions{TSA: tsa, Envelope: "cose"})
	plain := newFixture(t, acctest.NewRegistry(t))
	acctest.NotarySign(t, plain.reg.Host, "team/api", plain.digest, short, acctest.NotarySignOptions{})
	withTSA := notationAuthority("release", ca, short.Identity)
	withTSA.Notation.TSACertificatesPEM = tsa.RootPEM

	// Before expiry both verify with the authority that has no TSA.
	if ar := notationResult(t, plain, notationAuthority("release", ca, short.Identity)); len(ar.Signatures) != 1 {
		t.Fatalf("before expiry: %q", ar.Reasons)
	}
	time.Sleep(time.Until(short.Chain[0].NotAfter) + 1500*time.Millisecond)

	wantReason(t, notationResult(t, plain, notationAuthority("release", ca, short.Identity)), "expired certificate", "--timestamp-url")
	wantReason(t, notationResult(t, stamped, notationAuthority("release", ca, short.Identity)), "expired certificate")
	ar := notationResult(t, stamped, withTSA)
	if len(ar.Signatures) != 1 {
		t.Fatalf("timestamped signature with tsa_certificates_pem: %q", ar.Reasons)
	}
	n := ar.Signatures[0].Notation
	if n.TimestampAuthority != "CN=acme Timestamping,O=acme TSA,C=US" || n.TimestampTime.IsZero() || n.TimestampTime.After(short.Chain[0].NotAfter) {
		t.Errorf("timestamp details: %+v", n)
	}
	wantReason(t, notationResult(t, plain, withTSA), "no timestamp", "tsa_certificates_pem")
}

// revocation = "enforce" with an OCSP server nobody answers fails closed
// and says what offline plans need; "log" and "skip" pass.
func TestNotation_revocation(t *testing.T) {
	ca := acctest.NewNotaryCA(t, "acme")
	cert := ca.Issue(t, "release", acctest.NotaryCertOptions{OCSPServer: "http://127.0.0.1:1/ocsp"})
	f := newFixture(t, acctest.NewRegistry(t))
	acctest.NotarySign(t, f.reg.Host, "team/api", f.digest, cert, acctest.NotarySignOptions{})
	a := notationAuthority("release", ca, cert.Identity)
	wantReason(t, notationResult(t, f, a), "revocation", "revocation status is unknown", `offline plans need revocation = "log" or "skip"`)
	a.Notation.Revocation = "log"
	ar := notationResult(t, f, a)
	if len(ar.Signatures) != 1 || !strings.HasPrefix(ar.Signatures[0].Notation.Revocation, "not established, logged") {
		t.Fatalf("log: %+v %q", ar.Signatures, ar.Reasons)
	}
	a.Notation.Revocation = "skip"
	if ar := notationResult(t, f, a); len(ar.Signatures) != 1 || ar.Signatures[0].Notation.Revocation != "skipped" {
		t.Fatalf("skip: %+v %q", ar.Signatures, ar.Reasons)
	}
}

// A certificate its CA's OCSP responder says is revoked fails under
// "enforce" and under "log" (which passes only a status nobody could
// establish); "skip" does not ask. A sibling certificate that is good
// passes under "enforce".
func TestNotation_revoked(t *testing.T) {
	ca := acctest.NewNotaryCA(t, "acme")
	var revokedSerial atomic.Pointer[big.Int]
	url := ca.OCSPResponder(t, func(s *big.Int) bool { r := revokedSerial.Load(); return r != nil && r.Cmp(s) == 0 })
	bad := ca.Issue(t, "release", acctest.NotaryCertOptions{OCSPServer: url})
	good := ca.Issue(t, "release", acctest.NotaryCertOptions{OCSPServer: url})
	revokedSerial.Store(bad.Chain[0].SerialNumber)
	f := newFixture(t, acctest.NewRegistry(t))
	acctest.NotarySign(t, f.reg.Host, "team/api", f.digest, bad, acctest.NotarySignOptions{})
	a := notationAuthority("release", ca, bad.Identity)
	wantReason(t, notationResult(t, f, a), "revoked: signing certificate with subject", "is revoked", "not revoked")
	a.Notation.Revocation = "log"
	wantReason(t, notationResult(t, f, a), "revoked:", `revocation = "log" lets a status that could not be established pass, never a revoked certificate`)
	a.Notation.Revocation = "skip"
	if ar := notationResult(t, f, a); len(ar.Signatures) != 1 {
		t.Fatalf("skip: %q", ar.Reasons)
	}
	g := newFixture(t, acctest.NewRegistry(t))
	acctest.NotarySign(t, g.reg.Host, "team/api", g.digest, good, acctest.NotarySignOptions{Envelope: "cose"})
	if ar := notationResult(t, g, notationAuthority("release", ca, good.Identity)); len(ar.Signatures) != 1 || ar.Signatures[0].Notation.Revocation != "good" {
		t.Fatalf("good certificate under enforce: %+v %q", ar.Signatures, ar.Reasons)
	}
}

// An envelope past the size bound is not read; the reason says so.
func TestNotation_envelopeBound(t *testing.T) {
	ca := acctest.NewNotaryCA(t, "acme")
	f := newFixture(t, acctest.NewRegistry(t))
	acctest.NotaryPushEnvelope(t, f.reg.Host, "team/api", f.digest, make([]byte, 4<<20+1))
	wantReason(t, notationResult(t, f, notationAuthority("release", ca, "*")), "the signature envelope is 4194305 bytes, more than the 4194304 allowed")
}

// A key authority and a notation authority side by side: each judges only
// its own kind of signature.
func TestNotation_besideCosign(t *testing.T) {
	ca := acctest.NewNotaryCA(t, "acme")
	cert := ca.Issue(t, "release", acctest.NotaryCertOptions{})
	f := newFixture(t, acctest.NewRegistry(t))
	acctest.NotarySign(t, f.reg.Host, "team/api", f.digest, cert, acctest.NotarySignOptions{})
	res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority(), notationAuthority("release", ca, cert.Identity)})
	if len(res.Authorities[0].Signatures) != 0 || len(res.Authorities[1].Signatures) != 1 {
		t.Fatalf("key %+v, notation %+v", res.Authorities[0], res.Authorities[1])
	}
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	res = f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority(), notationAuthority("release", ca, cert.Identity)})
	if len(res.Authorities[0].Signatures) != 1 || len(res.Authorities[1].Signatures) != 1 || res.Authorities[0].Signatures[0].Notation != nil {
		t.Fatalf("both signed: key %+v, notation %+v", res.Authorities[0], res.Authorities[1])
	}
}

// The block's mistakes are refused before any registry is asked.
func TestNotation_validate(t *testing.T) {
	ca := acctest.NewNotaryCA(t, "acme")
	cert := ca.Issue(t, "release", acctest.NotaryCertOptions{})
	leafPEM := strings.TrimSpace(string(pemOf(cert.Chain[0].Raw)))
	for _, tc := range []struct {
		name string
		edit func(*verify.NotationAuthority)
		want string
	}{
		{"no identities", func(n *verify.NotationAuthority) { n.TrustedIdentities = nil }, "needs trusted_identities"},
		{"bad identity", func(n *verify.NotationAuthority) { n.TrustedIdentities = []string{"CN=release"} }, `write "x509.subject: <distinguished name>"`},
		{"wildcard among others", func(n *verify.NotationAuthority) { n.TrustedIdentities = []string{"*", cert.Identity} }, "not a valid Notary Project trust policy"},
		{"store type", func(n *verify.NotationAuthority) { n.TrustStoreType = "tsa" }, `"ca" or "signingAuthority"`},
		{"not PEM", func(n *verify.NotationAuthority) { n.CertificatesPEM = "hello" }, "certificates_pem is not PEM"},
		{"leaf as anchor", func(n *verify.NotationAuthority) { n.CertificatesPEM = leafPEM }, "not a CA certificate"},
		{"TSA not a root", func(n *verify.NotationAuthority) { n.TSACertificatesPEM = leafPEM }, "not a self-signed root"},
		{"revocation", func(n *verify.NotationAuthority) { n.Revocation = "maybe" }, `"enforce", "log" or "skip"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := notationAuthority("release", ca, cert.Identity)
			tc.edit(a.Notation)
			err := verify.ValidateAuthority(a)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	a := notationAuthority("release", ca, cert.Identity)
	a.Key = &verify.KeyAuthority{PublicKeyPEM: "x"}
	if err := verify.ValidateAuthority(a); err == nil || !strings.Contains(err.Error(), "sets both key and notation") {
		t.Fatalf("key and notation: %v", err)
	}
	if err := verify.ValidateAuthority(notationAuthority("release", ca, cert.Identity)); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

package verify_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

const (
	ghIssuer  = "https://token.actions.githubusercontent.com"
	ghSubject = "https://github.com/acme/api/.github/workflows/release.yml@refs/tags/v1.4.2"
	slsaV1    = "https://slsa.dev/provenance/v1"
)

// fixture is one image in a test registry, a key pair and an in-memory
// Sigstore.
type fixture struct {
	reg    *acctest.Registry
	repo   name.Repository
	digest v1.Hash
	ss     *acctest.Sigstore
	key    *acctest.KeyPair
}

func newFixture(t testing.TB, reg *acctest.Registry) *fixture {
	t.Helper()
	img := acctest.Image(acctest.Config{}, acctest.Layer(acctest.File{Path: "app/hello", Content: "hello " + t.Name()}))
	d := reg.Push(t, "team/api:1.4.2", img)
	repo, err := name.NewRepository(reg.Host+"/team/api", name.WeakValidation)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{reg: reg, repo: repo, digest: d, ss: acctest.NewSigstore(t), key: acctest.NewKeyPair(t)}
}

// other pushes a second image and returns its digest.
func (f *fixture) other(t testing.TB) v1.Hash {
	t.Helper()
	img := acctest.Image(acctest.Config{}, acctest.Layer(acctest.File{Path: "app/other", Content: "other " + t.Name()}))
	return f.reg.Push(t, "team/api:other", img)
}

func (f *fixture) verifier(t testing.TB, mutate ...func(*verify.Options)) *verify.Verifier {
	t.Helper()
	opts := verify.Options{
		TrustedRootJSON: f.ss.TrustedRootJSON(t),
		RemoteOptions:   []remote.Option{remote.WithAuth(authn.Anonymous)},
	}
	for _, m := range mutate {
		m(&opts)
	}
	v, err := verify.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *fixture) verify(t testing.TB, v *verify.Verifier, auths []verify.Authority, attestations ...string) *verify.Result {
	t.Helper()
	req := verify.Request{Repository: f.repo, Digest: f.digest, Authorities: auths}
	for _, a := range attestations {
		req.Attestations = append(req.Attestations, verify.AttestationRequest{PredicateType: a})
	}
	res, err := v.Verify(context.Background(), req)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(res.Authorities) != len(auths) {
		t.Fatalf("got %d authority results, want %d", len(res.Authorities), len(auths))
	}
	return res
}

func (f *fixture) keyAuthority() verify.Authority {
	return verify.Authority{Name: "release-key", Key: &verify.KeyAuthority{PublicKeyPEM: f.key.PublicKeyPEM}}
}

func keylessAuthority() verify.Authority {
	return verify.Authority{Name: "ci", Keyless: &verify.KeylessAuthority{
		Issuer:                   ghIssuer,
		SubjectRegexp:            `^https://github\.com/acme/api/\.github/workflows/release\.yml@refs/tags/v.*`,
		GitHubWorkflowRepository: "acme/api",
		GitHubWorkflowTrigger:    "push",
	}}
}

func ciIdentity() acctest.Identity {
	return acctest.Identity{Issuer: ghIssuer, Subject: ghSubject, GitHubWorkflowRepository: "acme/api", GitHubWorkflowTrigger: "push", GitHubWorkflowRef: "refs/tags/v1.4.2"}
}

func (f *fixture) tagSig() string { return "sha256-" + f.digest.Hex + ".sig" }
func (f *fixture) tagIdx() string { return "sha256-" + f.digest.Hex }

func keyID(t testing.TB, k *acctest.KeyPair) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// onlySignature asserts exactly one verified signature and no reasons.
func onlySignature(t *testing.T, ar verify.AuthorityResult) verify.Signature {
	t.Helper()
	if len(ar.Signatures) != 1 || len(ar.Reasons) != 0 {
		t.Fatalf("want one signature and no reasons, got %+v", ar)
	}
	return ar.Signatures[0]
}

// hasReason asserts that a reason contains want.
func hasReason(t *testing.T, ar verify.AuthorityResult, want string) {
	t.Helper()
	for _, r := range ar.Reasons {
		if strings.Contains(r, want) {
			t.Logf("reason: %s", r)
			return
		}
	}
	t.Fatalf("no reason contains %q; reasons:\n  %s", want, strings.Join(ar.Reasons, "\n  "))
}

// rejected asserts that nothing verified and a reason contains want.
func rejected(t *testing.T, ar verify.AuthorityResult, want string) {
	t.Helper()
	if len(ar.Signatures) != 0 {
		t.Fatalf("want no signature, got %+v", ar.Signatures)
	}
	hasReason(t, ar, want)
}

func TestKeySignatureInEachStorageForm(t *testing.T) {
	t.Run("bundle through the referrers API", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
		res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()})
		s := onlySignature(t, res.Authorities[0])
		if s.Format != "bundle" || s.Location != "referrers API" || s.Authority != "release-key" {
			t.Errorf("signature = %+v", s)
		}
		if s.KeyID != keyID(t, f.key) || s.Issuer != "" || s.Subject != "" {
			t.Errorf("key id / identity = %q %q %q", s.KeyID, s.Issuer, s.Subject)
		}
		if s.TLogIndex < 0 || s.IntegratedTime.IsZero() || time.Since(s.IntegratedTime) > time.Hour {
			t.Errorf("tlog = %d at %s", s.TLogIndex, s.IntegratedTime)
		}
		if got := strings.Join(res.Searched, ", "); got != "referrers API" {
			t.Errorf("searched %q, want only the referrers API", got)
		}
	})
	t.Run("bundle under the referrers tag on a registry without the API", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistryWithoutReferrersAPI(t))
		f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
		if tags := strings.Join(f.reg.Tags(t, "team/api"), " "); !strings.Contains(tags, f.tagIdx()) {
			t.Fatalf("cosign's write left no referrers tag %s; tags: %s", f.tagIdx(), tags)
		}
		res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()})
		s := onlySignature(t, res.Authorities[0])
		if s.Format != "bundle" || s.Location != "referrers tag "+f.tagIdx() {
			t.Errorf("signature = %+v", s)
		}
		want := "referrers API, referrers tag " + f.tagIdx()
		if got := strings.Join(res.Searched, ", "); got != want {
			t.Errorf("searched %q, want %q", got, want)
		}
	})
	t.Run("legacy .sig tag", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		f.reg.SignLegacy(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
		res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()})
		s := onlySignature(t, res.Authorities[0])
		if s.Format != "legacy" || s.Location != "legacy tag "+f.tagSig() || s.KeyID != keyID(t, f.key) {
			t.Errorf("signature = %+v", s)
		}
		if s.TLogIndex < 0 || s.IntegratedTime.IsZero() {
			t.Errorf("tlog = %d at %s", s.TLogIndex, s.IntegratedTime)
		}
	})
}

func TestKeylessSignature(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signer func(*fixture)
		format string
		loc    func(*fixture) string
	}{
		{"bundle with log entry and timestamp", func(f *fixture) {
			f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), TLog: true, Timestamp: true})
		}, "bundle", func(*fixture) string { return "referrers API" }},
		{"legacy .sig with log entry", func(f *fixture) {
			f.reg.SignLegacy(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), TLog: true})
		}, "legacy", func(f *fixture) string { return "legacy tag " + f.tagSig() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			tc.signer(f)
			res := f.verify(t, f.verifier(t), []verify.Authority{keylessAuthority()})
			s := onlySignature(t, res.Authorities[0])
			if s.Issuer != ghIssuer || s.Subject != ghSubject || s.Format != tc.format || s.Location != tc.loc(f) {
				t.Errorf("signature = %+v", s)
			}
			if len(s.KeyID) != 40 || s.TLogIndex < 0 || s.IntegratedTime.IsZero() {
				t.Errorf("key id %q, tlog %d at %s", s.KeyID, s.TLogIndex, s.IntegratedTime)
			}
		})
	}
	for _, form := range []string{"bundle", "legacy"} {
		t.Run(form+" with only a signed timestamp, tlog optional", func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			s := acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), Timestamp: true}
			if form == "bundle" {
				f.reg.SignBundle(t, "team/api", f.digest, s)
			} else {
				f.reg.SignLegacy(t, "team/api", f.digest, s)
			}
			res := f.verify(t, f.verifier(t, func(o *verify.Options) { o.TLog = "optional" }), []verify.Authority{keylessAuthority()})
			sig := onlySignature(t, res.Authorities[0])
			if sig.TLogIndex != -1 || !sig.IntegratedTime.IsZero() {
				t.Errorf("tlog = %d at %s, want none", sig.TLogIndex, sig.IntegratedTime)
			}
		})
	}
}

func TestMultiPlatformIndexIsSignedByItsDigest(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	amd := acctest.Image(acctest.Config{Architecture: "amd64"}, acctest.Layer(acctest.File{Path: "a", Content: "amd64"}))
	arm := acctest.Image(acctest.Config{Architecture: "arm64"}, acctest.Layer(acctest.File{Path: "a", Content: "arm64"}))
	idx := f.reg.PushIndex(t, "team/api:multi", acctest.Index(amd, arm))
	armDigest, err := arm.Digest()
	if err != nil {
		t.Fatal(err)
	}
	f.reg.SignBundle(t, "team/api", idx, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	v := f.verifier(t)
	f.digest = idx
	onlySignature(t, f.verify(t, v, []verify.Authority{f.keyAuthority()}).Authorities[0])
	f.digest = armDigest // a platform manifest is not covered by the index's signature
	rejected(t, f.verify(t, v, []verify.Authority{f.keyAuthority()}).Authorities[0], "no signature found (looked in: referrers API")
}

func TestMessageSignatureBundle(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	other := f.other(t)
	manifest := func(d v1.Hash) []byte {
		desc, err := remote.Get(f.repo.Digest(d.String()))
		if err != nil {
			t.Fatal(err)
		}
		return desc.Manifest
	}
	s := acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true}
	f.reg.SignBlobBundle(t, "team/api", f.digest, s, manifest(f.digest))
	onlySignature(t, f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()}).Authorities[0])

	// The other image's manifest, signed as a blob, attached to this image.
	f.digest, other = other, f.digest
	f.reg.SignBlobBundle(t, "team/api", f.digest, s, manifest(other))
	rejected(t, f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()}).Authorities[0],
		fmt.Sprintf("payload digest mismatch: the signature covers %s, not %s (copied from another image?)", other, f.digest))
}

func TestEachAuthorityIsJudgedOnItsOwn(t *testing.T) {
	// Require-any or require-all is the caller's decision: each authority
	// gets its own result.
	f := newFixture(t, acctest.NewRegistry(t))
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), TLog: true})
	res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority(), keylessAuthority()})
	rejected(t, res.Authorities[0], "signed keyless (certificate issuer "+ghIssuer+" subject "+ghSubject+"), not with the given public key")
	onlySignature(t, res.Authorities[1])
}

func TestWrongKey(t *testing.T) {
	for _, form := range []string{"bundle", "legacy"} {
		t.Run(form, func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			s := acctest.Signer{Key: acctest.NewKeyPair(t), Sigstore: f.ss, TLog: true}
			if form == "bundle" {
				f.reg.SignBundle(t, "team/api", f.digest, s)
			} else {
				f.reg.SignLegacy(t, "team/api", f.digest, s)
			}
			res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()})
			ar := res.Authorities[0]
			rejected(t, ar, "signature does not verify with the given public key")
			if form == "bundle" {
				hasReason(t, ar, "(bundle sha256:")
				hasReason(t, ar, "in referrers API)")
			}
		})
	}
}

func TestIdentityMismatch(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	id := ciIdentity()
	id.Subject = "https://github.com/mallory/api/.github/workflows/release.yml@refs/heads/main"
	id.GitHubWorkflowRepository = "mallory/api"
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: id, TLog: true, Timestamp: true})
	f.reg.SignLegacy(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: id, TLog: true})
	res := f.verify(t, f.verifier(t), []verify.Authority{keylessAuthority()})
	ar := res.Authorities[0]
	want := "identity mismatch: certificate has issuer " + ghIssuer + " subject " + id.Subject +
		" github-workflow-repository mallory/api github-workflow-trigger push; required issuer " + ghIssuer +
		` subject-regexp ^https://github\.com/acme/api/\.github/workflows/release\.yml@refs/tags/v.* github-workflow-repository acme/api github-workflow-trigger push`
	rejected(t, ar, want+" (bundle ")
	rejected(t, ar, want+" (legacy signature 1 of 1 in legacy tag "+f.tagSig()+")")
	if len(ar.Reasons) != 2 {
		t.Errorf("want one reason per candidate, got %q", ar.Reasons)
	}
}

// A keyless signature needs a transparency-log entry or a signed timestamp
// whatever tlog says: an expired certificate, and a valid one (a private CA
// may issue long-lived certificates), are both refused without one.
func TestKeylessWithoutProofOfTime(t *testing.T) {
	for _, expired := range []bool{true, false} {
		f := newFixture(t, acctest.NewRegistry(t))
		id := ciIdentity()
		if expired {
			id.NotBefore = time.Now().Add(-3 * time.Hour).Truncate(time.Second)
			id.NotAfter = id.NotBefore.Add(10 * time.Minute)
		}
		f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: id})
		f.reg.SignLegacy(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: id})
		for _, tlog := range []string{"required", "optional"} {
			res := f.verify(t, f.verifier(t, func(o *verify.Options) { o.TLog = tlog }), []verify.Authority{keylessAuthority()})
			want := "keyless signature without a transparency log entry or a signed timestamp"
			rejected(t, res.Authorities[0], want)
			if len(res.Authorities[0].Signatures) != 0 {
				t.Errorf("expired=%v tlog=%s: %d signatures accepted", expired, tlog, len(res.Authorities[0].Signatures))
			}
		}
	}
}

func TestSignedAfterTheCertificateExpired(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	id := ciIdentity()
	id.NotBefore = time.Now().Add(-3 * time.Hour)
	id.NotAfter = id.NotBefore.Add(10 * time.Minute)
	// The log and the TSA record "now", long after the certificate expired.
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: id, TLog: true, Timestamp: true})
	f.reg.SignLegacy(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: id, TLog: true})
	res := f.verify(t, f.verifier(t), []verify.Authority{keylessAuthority()})
	want := "certificate was not valid when the transparency log or timestamp authority saw the signature (signed outside the certificate's lifetime)"
	rejected(t, res.Authorities[0], want)
	if len(res.Authorities[0].Reasons) != 2 {
		t.Errorf("reasons %q", res.Authorities[0].Reasons)
	}
	for _, r := range res.Authorities[0].Reasons {
		if !strings.HasPrefix(r, want) {
			t.Errorf("reason %q", r)
		}
	}
}

func TestSignatureCopiedFromAnotherImage(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	other := f.other(t)
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, Covers: other})
	f.reg.SignLegacy(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, Covers: other})
	res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()})
	want := fmt.Sprintf("payload digest mismatch: the signature covers %s, not %s (copied from another image?)", other, f.digest)
	rejected(t, res.Authorities[0], want+" (bundle")
	rejected(t, res.Authorities[0], want+" (legacy signature")
}

func TestTamperedBundle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signer func(f *fixture, tamper func([]byte) []byte) acctest.Signer
		auth   func(f *fixture) verify.Authority
		tlog   string
		want   string
	}{
		{"key, statement edited, log entry", func(f *fixture, tm func([]byte) []byte) acctest.Signer {
			return acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, Tamper: tm}
		}, (*fixture).keyAuthority, "required", "bundle is tampered: the bundle names the given public key, but its signature does not verify over its content"},
		{"key, log entry time edited", func(f *fixture, _ func([]byte) []byte) acctest.Signer {
			return acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, Tamper: acctest.TamperBundleJSON(func(b map[string]any) {
				e := b["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
				e["integratedTime"] = "1700000000"
			})}
		}, (*fixture).keyAuthority, "required", "transparency log entry does not verify against the trusted root"},
		{"key, statement edited, no log", func(f *fixture, tm func([]byte) []byte) acctest.Signer {
			return acctest.Signer{Key: f.key, Tamper: tm}
		}, (*fixture).keyAuthority, "optional", "bundle is tampered: the bundle names the given public key, but its signature does not verify over its content"},
		{"keyless, statement edited", func(f *fixture, tm func([]byte) []byte) acctest.Signer {
			return acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), Timestamp: true, Tamper: tm}
		}, func(*fixture) verify.Authority { return keylessAuthority() }, "optional", "bundle is tampered: the signature does not verify with the certificate it carries"},
		{"bytes that do not parse", func(f *fixture, _ func([]byte) []byte) acctest.Signer {
			return acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, Tamper: func(b []byte) []byte { return append([]byte(`{"mediaType":1`), b...) }}
		}, (*fixture).keyAuthority, "required", "bundle is tampered or malformed: it does not parse as a Sigstore bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			// The attacker edits the signed statement after signing.
			f.reg.SignBundle(t, "team/api", f.digest, tc.signer(f, acctest.TamperBundlePayload(func(st []byte) []byte {
				return []byte(strings.ReplaceAll(string(st), `"predicate":{}`, `"predicate":{"evil":true}`))
			})))
			res := f.verify(t, f.verifier(t, func(o *verify.Options) { o.TLog = tc.tlog }), []verify.Authority{tc.auth(f)})
			rejected(t, res.Authorities[0], tc.want)
		})
	}
}

func TestUnsignedImage(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority(), keylessAuthority()})
	want := "no signature found (looked in: referrers API, referrers tag " + f.tagIdx() + ", legacy tag " + f.tagSig() + ")"
	for _, ar := range res.Authorities {
		if len(ar.Reasons) != 1 || ar.Reasons[0] != want {
			t.Errorf("%s: reasons %q, want [%q]", ar.Authority, ar.Reasons, want)
		}
	}
	if got := strings.Join(res.Searched, ", "); got != "referrers API, referrers tag "+f.tagIdx()+", legacy tag "+f.tagSig() {
		t.Errorf("searched %q", got)
	}
}

func TestAttestations(t *testing.T) {
	predicate := map[string]any{"buildDefinition": map[string]any{"buildType": "https://actions.github.io/buildtypes/workflow/v1"}}
	for _, form := range []string{"bundle", "legacy"} {
		t.Run(form+" present", func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			s := acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), TLog: true}
			f.reg.SignBundle(t, "team/api", f.digest, s)
			if form == "bundle" {
				f.reg.AttestBundle(t, "team/api", f.digest, s, slsaV1, predicate)
			} else {
				f.reg.AttestLegacy(t, "team/api", f.digest, s, slsaV1, predicate)
			}
			res := f.verify(t, f.verifier(t), []verify.Authority{keylessAuthority()}, slsaV1)
			ar := res.Authorities[0]
			if len(ar.Signatures) != 1 || len(ar.Attestations) != 1 || len(ar.Reasons) != 0 {
				t.Fatalf("result %+v", ar)
			}
			at := ar.Attestations[0]
			if at.PredicateType != slsaV1 || at.Format != form || at.Subject != ghSubject || at.Authority != "ci" {
				t.Errorf("attestation %+v", at)
			}
			var got map[string]any
			if err := json.Unmarshal(at.Predicate, &got); err != nil {
				t.Fatal(err)
			}
			if got["buildDefinition"].(map[string]any)["buildType"] != "https://actions.github.io/buildtypes/workflow/v1" {
				t.Errorf("predicate %s", at.Predicate)
			}
			if !ar.Verified([]verify.AttestationRequest{{PredicateType: slsaV1}}) {
				t.Error("Verified = false")
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		s := acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), TLog: true}
		f.reg.SignBundle(t, "team/api", f.digest, s)
		f.reg.AttestBundle(t, "team/api", f.digest, s, slsaV1, predicate)
		cdx, err := verify.PredicateTypeURI("cyclonedx")
		if err != nil {
			t.Fatal(err)
		}
		res := f.verify(t, f.verifier(t), []verify.Authority{keylessAuthority()}, slsaV1, cdx)
		ar := res.Authorities[0]
		if len(ar.Signatures) != 1 || len(ar.Attestations) != 1 {
			t.Fatalf("result %+v", ar)
		}
		want := "attestation of type https://cyclonedx.org/bom missing (looked in: referrers API, referrers tag " + f.tagIdx() + ", legacy tag sha256-" + f.digest.Hex + ".att)"
		if len(ar.Reasons) != 1 || ar.Reasons[0] != want {
			t.Errorf("reasons %q, want [%q]", ar.Reasons, want)
		}
	})
	t.Run("signed by someone else", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
		f.reg.AttestBundle(t, "team/api", f.digest, acctest.Signer{Key: acctest.NewKeyPair(t), Sigstore: f.ss, TLog: true}, slsaV1, predicate)
		res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()}, slsaV1)
		ar := res.Authorities[0]
		if len(ar.Signatures) != 1 || len(ar.Attestations) != 0 {
			t.Fatalf("result %+v", ar)
		}
		hasReason(t, ar, "attestation of type "+slsaV1+" missing")
		hasReason(t, ar, "signature does not verify with the given public key (bundle sha256:")
	})
}

func TestTransparencyLogRequiredOrOptional(t *testing.T) {
	for _, form := range []string{"bundle", "legacy"} {
		t.Run(form, func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			s := acctest.Signer{Key: f.key} // cosign sign --key … --tlog-upload=false
			if form == "bundle" {
				f.reg.SignBundle(t, "team/api", f.digest, s)
			} else {
				f.reg.SignLegacy(t, "team/api", f.digest, s)
			}
			res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()})
			rejected(t, res.Authorities[0], `no transparency log entry: the `)
			rejected(t, res.Authorities[0], `tlog is "required"`)

			// Optional needs no trusted root at all: nothing is fetched.
			v := f.verifier(t, func(o *verify.Options) { o.TLog = "optional"; o.TrustedRootJSON = "" })
			sig := onlySignature(t, f.verify(t, v, []verify.Authority{f.keyAuthority()}).Authorities[0])
			if sig.TLogIndex != -1 || !sig.IntegratedTime.IsZero() {
				t.Errorf("tlog = %d at %s, want none", sig.TLogIndex, sig.IntegratedTime)
			}
		})
	}
}

func TestMalformedMaterial(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts verify.Options
		want string
	}{
		{"trusted root not JSON", verify.Options{TrustedRootJSON: "not json"}, "trusted_root_json is not a Sigstore trusted root"},
		{"trusted root empty", verify.Options{TrustedRootJSON: `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`}, "trusted_root_json names no certificate authority"},
		{"tlog mode", verify.Options{TLog: "sometimes"}, `tlog must be "required" or "optional", not "sometimes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error %v, want %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		a    verify.Authority
		want string
	}{
		{"public key not PEM", verify.Authority{Name: "k", Key: &verify.KeyAuthority{PublicKeyPEM: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"}},
			`authority "k": the public key is not a PEM-encoded PKIX public key`},
		{"unknown KMS scheme", verify.Authority{Name: "k", Key: &verify.KeyAuthority{KMSRef: "vault://x"}}, `"vault://x" is not a KMS reference cosign knows`},
		{"keyless without subject", verify.Authority{Name: "c", Keyless: &verify.KeylessAuthority{Issuer: ghIssuer}}, "keyless needs subject or subject_regexp"},
		{"bad regexp", verify.Authority{Name: "c", Keyless: &verify.KeylessAuthority{Issuer: ghIssuer, SubjectRegexp: "("}}, `subject_regexp "(" does not compile`},
		{"both kinds", verify.Authority{Name: "x", Key: &verify.KeyAuthority{KMSRef: "awskms:///k"}, Keyless: &verify.KeylessAuthority{}}, "sets both key and keyless"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := verify.ValidateAuthority(tc.a); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ValidateAuthority error %v, want %q", err, tc.want)
			}
			f := newFixture(t, acctest.NewRegistry(t))
			_, err := f.verifier(t).Verify(context.Background(), verify.Request{Repository: f.repo, Digest: f.digest, Authorities: []verify.Authority{tc.a}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestKMSSchemesAreRegistered(t *testing.T) {
	// The providers register their schemes at import; nothing is contacted
	// until a verification uses the key.
	for _, ref := range []string{"awskms:///alias/release", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "azurekms://vault.vault.azure.net/release", "hashivault://release"} {
		if err := verify.ValidateAuthority(verify.Authority{Key: &verify.KeyAuthority{KMSRef: ref}}); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

func TestRegistryFailureIsAnError(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		f := newFixture(t, acctest.NewRegistry(t))
		v := f.verifier(t, func(o *verify.Options) {
			o.RemoteOptions = append(o.RemoteOptions, remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
		})
		f.reg.SetDown(true)
		_, err := v.Verify(context.Background(), verify.Request{Repository: f.repo, Digest: f.digest, Authorities: []verify.Authority{f.keyAuthority()}})
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("error %v, want the registry's 503", err)
		}
	})
	t.Run("unauthorized", func(t *testing.T) {
		reg := acctest.NewRegistry(t, acctest.WithBasicAuth("ci", "s3cret"))
		f := &fixture{reg: reg, key: acctest.NewKeyPair(t), ss: acctest.NewSigstore(t), digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}
		f.repo, _ = name.NewRepository(reg.Host+"/team/api", name.WeakValidation)
		_, err := f.verifier(t).Verify(context.Background(), verify.Request{Repository: f.repo, Digest: f.digest, Authorities: []verify.Authority{f.keyAuthority()}})
		if err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
			t.Fatalf("error %v, want unauthorized", err)
		}
	})
}

func TestPredicateTypeURI(t *testing.T) {
	for in, want := range map[string]string{
		"slsaprovenance":              "https://slsa.dev/provenance/v0.2",
		"slsaprovenance02":            "https://slsa.dev/provenance/v0.2",
		"slsaprovenance1":             "https://slsa.dev/provenance/v1",
		"spdx":                        "https://spdx.dev/Document",
		"spdxjson":                    "https://spdx.dev/Document",
		"cyclonedx":                   "https://cyclonedx.org/bom",
		"vuln":                        "https://cosign.sigstore.dev/attestation/vuln/v1",
		"openvex":                     "https://openvex.dev/ns",
		"custom":                      "https://cosign.sigstore.dev/attestation/v1",
		"link":                        "https://in-toto.io/Link/v1",
		"https://example.com/pred/v1": "https://example.com/pred/v1",
	} {
		got, err := verify.PredicateTypeURI(in)
		if err != nil || got != want {
			t.Errorf("PredicateTypeURI(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := verify.PredicateTypeURI("sbom"); err == nil || !strings.Contains(err.Error(), `"sbom" is neither a URI nor one of cosign's names`) {
		t.Errorf("error %v", err)
	}
}

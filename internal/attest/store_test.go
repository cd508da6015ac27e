package attest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// fixture is an image in a test registry, a key, and an in-memory Sigstore
// whose Rekor is served over HTTP.
type fixture struct {
	reg      *acctest.Registry
	repo     name.Repository
	digest   v1.Hash
	subject  v1.Descriptor
	key      *acctest.KeyPair
	ss       *acctest.Sigstore
	rekorURL string
}

func newFixture(t *testing.T, reg *acctest.Registry) *fixture {
	t.Helper()
	f := &fixture{reg: reg, key: acctest.NewKeyPair(t), ss: acctest.NewSigstore(t)}
	f.digest = reg.Push(t, "team/api:1", acctest.Image(acctest.Config{}, acctest.Layer(acctest.File{Path: "app/hello", Content: t.Name()})))
	f.subject = f.descriptor(t, f.digest)
	var err error
	if f.repo, err = name.NewRepository(reg.Host+"/team/api", name.WeakValidation); err != nil {
		t.Fatal(err)
	}
	f.rekorURL, _ = f.ss.RekorServer(t)
	return f
}

func (f *fixture) descriptor(t *testing.T, d v1.Hash) v1.Descriptor {
	t.Helper()
	ref, err := name.ParseReference(f.reg.Host+"/team/api@"+d.String(), name.WeakValidation)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	f.reg.ResetRequests()
	return *desc
}

func (f *fixture) store() attest.Store {
	return attest.Store{Repository: f.repo, Options: []remote.Option{remote.WithAuth(authn.Anonymous)}}
}

func (f *fixture) keySigner(t *testing.T, key *acctest.KeyPair, tlog bool) *attest.Signer {
	t.Helper()
	s, err := attest.NewSigner(context.Background(), attest.SignerOptions{PrivateKeyPEM: []byte(key.CosignPEM(t, "s3cret")), Password: []byte("s3cret"), TLogUpload: tlog, RekorURL: f.rekorURL})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publish signs a statement naming covers and attaches it to attachTo.
func (f *fixture) publish(t *testing.T, s *attest.Signer, predicateType string, predicate any, covers v1.Hash, attachTo v1.Descriptor, tamper func([]byte) []byte) *attest.Attached {
	t.Helper()
	st, err := attest.Statement(attest.Subject{Name: f.repo.Name(), Digest: covers}, predicateType, predicate)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	b := signed.Bundle
	if tamper != nil {
		b = tamper(b)
	}
	a, err := f.store().Attach(context.Background(), attachTo, b, predicateType, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *fixture) verify(t *testing.T, tlog string, auth verify.Authority, d v1.Hash, predicateType string) verify.AuthorityResult {
	t.Helper()
	v, err := verify.New(verify.Options{TrustedRootJSON: f.ss.TrustedRootJSON(t), TLog: tlog, RemoteOptions: []remote.Option{remote.WithAuth(authn.Anonymous)}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(context.Background(), verify.Request{Repository: f.repo, Digest: d, Authorities: []verify.Authority{auth},
		Attestations: []verify.AttestationRequest{{PredicateType: predicateType}}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Authorities[0]
}

func keyAuthority(k *acctest.KeyPair) verify.Authority {
	return verify.Authority{Name: "release", Key: &verify.KeyAuthority{PublicKeyPEM: k.PublicKeyPEM}}
}

func onlyAttestation(t *testing.T, ar verify.AuthorityResult) verify.Attestation {
	t.Helper()
	if len(ar.Attestations) != 1 {
		t.Fatalf("want one verified attestation, got %+v", ar)
	}
	return ar.Attestations[0]
}

func hasReason(t *testing.T, ar verify.AuthorityResult, want string) {
	t.Helper()
	if len(ar.Attestations) != 0 {
		t.Fatalf("want no verified attestation, got %+v", ar.Attestations)
	}
	for _, r := range ar.Reasons {
		if strings.Contains(r, want) {
			return
		}
	}
	t.Fatalf("no reason contains %q; reasons:\n  %s", want, strings.Join(ar.Reasons, "\n  "))
}

// What attest writes, internal/verify (the reader cosign's layout defines)
// finds and verifies, in both storage forms, with and without the log.
func TestPublishedAttestationVerifies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		registry func(testing.TB) *acctest.Registry
		tlog     bool
		location func(*fixture) string
	}{
		{"referrers API, logged in Rekor", func(tb testing.TB) *acctest.Registry { return acctest.NewRegistry(tb) }, true,
			func(*fixture) string { return "referrers API" }},
		{"referrers API, no log", func(tb testing.TB) *acctest.Registry { return acctest.NewRegistry(tb) }, false,
			func(*fixture) string { return "referrers API" }},
		{"referrers tag on a registry without the API", func(tb testing.TB) *acctest.Registry { return acctest.NewRegistryWithoutReferrersAPI(tb) }, true,
			func(f *fixture) string { return "referrers tag sha256-" + f.digest.Hex }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.registry(t))
			pred := map[string]any{"scanner": map[string]any{"uri": "pkg:github/aquasecurity/trivy@0.74.0"}}
			a := f.publish(t, f.keySigner(t, f.key, tc.tlog), attest.VulnPredicateType, pred, f.digest, f.subject, nil)
			if a.Location != tc.location(f) {
				t.Errorf("attach says %q, want %q", a.Location, tc.location(f))
			}
			tlog := "optional"
			if tc.tlog {
				tlog = "required"
			}
			got := onlyAttestation(t, f.verify(t, tlog, keyAuthority(f.key), f.digest, attest.VulnPredicateType))
			if got.Location != tc.location(f) || got.Format != "bundle" {
				t.Errorf("verified at %q (%s), want %q", got.Location, got.Format, tc.location(f))
			}
			if tc.tlog != (got.TLogIndex >= 0) {
				t.Errorf("tlog index %d, logged = %v", got.TLogIndex, tc.tlog)
			}
			var p map[string]any
			if err := json.Unmarshal(got.Predicate, &p); err != nil || p["scanner"].(map[string]any)["uri"] != "pkg:github/aquasecurity/trivy@0.74.0" {
				t.Errorf("predicate = %s (%v)", got.Predicate, err)
			}
			found, err := f.store().Find(context.Background(), f.digest, []string{attest.VulnPredicateType})
			if err != nil || len(found) != 1 || found[0].Digest != a.Digest || found[0].Location != a.Location {
				t.Errorf("Find = %+v, %v; want %+v", found, err, a)
			}
		})
	}
}

// An unlogged key attestation does not pass a verifier that requires the log.
func TestUnloggedAttestationFailsWhenTheLogIsRequired(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	f.publish(t, f.keySigner(t, f.key, false), attest.VulnPredicateType, map[string]any{}, f.digest, f.subject, nil)
	hasReason(t, f.verify(t, "required", keyAuthority(f.key), f.digest, attest.VulnPredicateType), "no transparency log entry")
}

func TestTamperedAttestationsFail(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	other := f.reg.Push(t, "team/api:2", acctest.Image(acctest.Config{}, acctest.Layer(acctest.File{Path: "app/other", Content: "other"})))
	otherDesc := f.descriptor(t, other)
	t.Run("edited predicate", func(t *testing.T) {
		f.publish(t, f.keySigner(t, f.key, true), attest.VerdictPredicateType, map[string]any{"result": "passed-with-warnings"}, f.digest, f.subject,
			acctest.TamperBundlePayload(func(st []byte) []byte {
				return []byte(strings.Replace(string(st), "passed-with-warnings", "passed", 1))
			}))
		hasReason(t, f.verify(t, "required", keyAuthority(f.key), f.digest, attest.VerdictPredicateType), "tampered")
	})
	t.Run("signed by another key", func(t *testing.T) {
		f.publish(t, f.keySigner(t, acctest.NewKeyPair(t), true), attest.VulnPredicateType, map[string]any{}, other, otherDesc, nil)
		hasReason(t, f.verify(t, "required", keyAuthority(f.key), other, attest.VulnPredicateType), "does not verify with the given public key")
	})
	t.Run("copied to another digest", func(t *testing.T) {
		f.publish(t, f.keySigner(t, f.key, true), attest.VulnPredicateType, map[string]any{}, f.digest, otherDesc, nil)
		f.publish(t, f.keySigner(t, f.key, true), attest.VulnPredicateType, map[string]any{}, other, f.subject, nil)
		ar := f.verify(t, "required", keyAuthority(f.key), other, attest.VulnPredicateType)
		if len(ar.Attestations) != 0 {
			t.Fatalf("a statement about %s verified on %s", f.digest, other)
		}
		hasReason(t, ar, "copied from another image")
	})
}

func TestDelete(t *testing.T) {
	for _, tc := range []struct {
		name     string
		registry func(testing.TB) *acctest.Registry
	}{
		{"referrers API", func(tb testing.TB) *acctest.Registry { return acctest.NewRegistry(tb) }},
		{"referrers tag", func(tb testing.TB) *acctest.Registry { return acctest.NewRegistryWithoutReferrersAPI(tb) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.registry(t))
			s := f.keySigner(t, f.key, false)
			vuln := f.publish(t, s, attest.VulnPredicateType, map[string]any{}, f.digest, f.subject, nil)
			verdict := f.publish(t, s, attest.VerdictPredicateType, map[string]any{}, f.digest, f.subject, nil)
			st := f.store()
			ctx := context.Background()
			if err := st.Delete(ctx, f.digest, []v1.Hash{vuln.Digest}); err != nil {
				t.Fatal(err)
			}
			found, err := st.Find(ctx, f.digest, []string{attest.VulnPredicateType, attest.VerdictPredicateType})
			if err != nil || len(found) != 1 || found[0].Digest != verdict.Digest {
				t.Fatalf("after deleting the vuln attestation, Find = %+v, %v; want only %s", found, err, verdict.Digest)
			}
			if ok, err := st.Exists(ctx, vuln.Digest); ok || err != nil {
				t.Errorf("deleted referrer still exists: %v %v", ok, err)
			}
			if ok, err := st.Exists(ctx, verdict.Digest); !ok || err != nil {
				t.Errorf("kept referrer is gone: %v %v", ok, err)
			}
			// Deleting again, and deleting the rest, is not an error.
			if err := st.Delete(ctx, f.digest, []v1.Hash{vuln.Digest, verdict.Digest}); err != nil {
				t.Fatal(err)
			}
			if found, err := st.Find(ctx, f.digest, []string{attest.VulnPredicateType, attest.VerdictPredicateType}); err != nil || len(found) != 0 {
				t.Errorf("after deleting both, Find = %+v, %v", found, err)
			}
			hasReason(t, f.verify(t, "optional", keyAuthority(f.key), f.digest, attest.VerdictPredicateType), "missing")
		})
	}
}

func TestFindNewestFirstAndOnlyWantedTypes(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	s := f.keySigner(t, f.key, false)
	st := f.store()
	ctx := context.Background()
	var digests []v1.Hash
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, pt := range []string{attest.VulnPredicateType, attest.VulnPredicateType, "https://slsa.dev/provenance/v1"} {
		stmt, err := attest.Statement(attest.Subject{Name: f.repo.Name(), Digest: f.digest}, pt, map[string]any{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		signed, err := s.Sign(ctx, stmt)
		if err != nil {
			t.Fatal(err)
		}
		a, err := st.Attach(ctx, f.subject, signed.Bundle, pt, base.Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, a.Digest)
	}
	found, err := st.Find(ctx, f.digest, []string{attest.VulnPredicateType})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].Digest != digests[1] || found[1].Digest != digests[0] {
		t.Fatalf("Find = %+v; want the two vuln attestations, newest (%s) first", found, digests[1])
	}
	if !found[0].Created.Equal(base.Add(time.Hour)) {
		t.Errorf("created = %s", found[0].Created)
	}
}

// distribution without storage.delete.enabled answers DELETE with 405
// UNSUPPORTED: the error says what to do.
func TestDeleteOnARegistryThatRefusesDeletes(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	a := f.publish(t, f.keySigner(t, f.key, false), attest.VulnPredicateType, map[string]any{}, f.digest, f.subject, nil)
	target, err := url.Parse(f.reg.Server.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/team/api", name.WeakValidation)
	if err != nil {
		t.Fatal(err)
	}
	st := attest.Store{Repository: repo, Options: []remote.Option{remote.WithAuth(authn.Anonymous)}}
	err = st.Delete(context.Background(), f.digest, []v1.Hash{a.Digest})
	if err == nil || !strings.Contains(err.Error(), "refuses to delete") || !strings.Contains(err.Error(), "storage.delete.enabled") {
		t.Fatalf("Delete = %v; want the registry's refusal with what to do", err)
	}
	if ok, err := f.store().Exists(context.Background(), a.Digest); !ok || err != nil {
		t.Errorf("the attestation is gone after a refused delete: %v %v", ok, err)
	}
}

// The registry client hands out options with a shared puller
// (remote.Reuse), whose referrers tag fallback is on: it must not make a
// registry without the referrers API look like one with it.
func TestSharedPullerDoesNotHideAMissingReferrersAPI(t *testing.T) {
	f := newFixture(t, acctest.NewRegistryWithoutReferrersAPI(t))
	p, err := remote.NewPuller(remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatal(err)
	}
	st := attest.Store{Repository: f.repo, Options: []remote.Option{remote.WithAuth(authn.Anonymous), remote.Reuse(p)}}
	stmt, err := attest.Statement(attest.Subject{Name: f.repo.Name(), Digest: f.digest}, attest.VulnPredicateType, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := f.keySigner(t, f.key, false).Sign(context.Background(), stmt)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Attach(context.Background(), f.subject, signed.Bundle, attest.VulnPredicateType, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := "referrers tag sha256-" + f.digest.Hex; a.Location != want {
		t.Errorf("location %q, want %q", a.Location, want)
	}
	found, err := st.Find(context.Background(), f.digest, []string{attest.VulnPredicateType})
	if err != nil || len(found) != 1 || found[0].Location != a.Location {
		t.Errorf("Find = %+v, %v", found, err)
	}
}

// Both predicates go over one registry session: one look at the referrers
// API besides go-containerregistry's own per manifest, one ping.
func TestAttachAllIsOneSession(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	s := f.keySigner(t, f.key, false)
	var bundles []attest.Bundle
	for _, pt := range []string{attest.VulnPredicateType, attest.VerdictPredicateType} {
		st, err := attest.Statement(attest.Subject{Name: f.repo.Name(), Digest: f.digest}, pt, map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		signed, err := s.Sign(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		bundles = append(bundles, attest.Bundle{JSON: signed.Bundle, PredicateType: pt})
	}
	f.reg.ResetRequests()
	got, err := f.store().AttachAll(context.Background(), f.subject, bundles, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].PredicateType != attest.VulnPredicateType || got[1].PredicateType != attest.VerdictPredicateType {
		t.Fatalf("AttachAll = %+v", got)
	}
	pings, referrers, puts := 0, 0, 0
	for _, r := range f.reg.Requests() {
		switch {
		case r.Path == "/v2/":
			pings++
		case strings.Contains(r.Path, "/referrers/"):
			referrers++
		case r.Method == http.MethodPut && strings.Contains(r.Path, "/manifests/"):
			puts++
		}
	}
	if pings > 2 || referrers > 3 || puts != 2 {
		t.Errorf("%d pings, %d referrers lookups, %d manifest PUTs; want at most 2, at most 3, exactly 2:\n%+v", pings, referrers, puts, f.reg.Requests())
	}
	for _, pt := range []string{attest.VulnPredicateType, attest.VerdictPredicateType} {
		onlyAttestation(t, f.verify(t, "optional", keyAuthority(f.key), f.digest, pt))
	}
}

package verify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

const vulnType = "https://cosign.sigstore.dev/attestation/vuln/v1"

func vulnPredicate(scanned time.Time) map[string]any {
	return map[string]any{"scanner": map[string]any{"result": map[string]any{}}, "metadata": map[string]any{
		"scanStartedOn": scanned.Add(-time.Second).Format(time.RFC3339), "scanFinishedOn": scanned.Format(time.RFC3339)}}
}

// Every verified signature and attestation carries the time the log (or,
// keyless, a timestamp authority) vouches for: what max_age is measured
// from and what orders attestations.
func TestVerifiedTime(t *testing.T) {
	logged := time.Now().Add(-20 * time.Hour).Truncate(time.Second).UTC()
	for _, tc := range []struct {
		name   string
		tlog   string
		attest func(f *fixture)
		auth   func(f *fixture) verify.Authority
		want   func(got time.Time) string // "" is right
	}{
		{"key bundle with a log entry: the log's integrated time", "required", func(f *fixture) {
			f.reg.AttestBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, LogTime: logged}, vulnType, vulnPredicate(logged))
		}, (*fixture).keyAuthority, func(got time.Time) string { return wantTime(got, logged) }},
		{"legacy key .att with a log entry: the log's integrated time", "required", func(f *fixture) {
			f.reg.AttestLegacy(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, LogTime: logged}, vulnType, vulnPredicate(logged))
		}, (*fixture).keyAuthority, func(got time.Time) string { return wantTime(got, logged) }},
		{"keyless bundle with a log entry: the log's integrated time", "required", func(f *fixture) {
			f.reg.AttestBundle(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: backdated(logged), TLog: true, LogTime: logged}, vulnType, vulnPredicate(logged))
		}, func(*fixture) verify.Authority { return keylessAuthority() }, func(got time.Time) string { return wantTime(got, logged) }},
		{"keyless bundle with only a timestamp: the timestamp's time", "optional", func(f *fixture) {
			f.reg.AttestBundle(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), Timestamp: true}, vulnType, vulnPredicate(time.Now()))
		}, func(*fixture) verify.Authority { return keylessAuthority() }, func(got time.Time) string {
			if got.IsZero() || time.Since(got) > time.Hour {
				return fmt.Sprintf("got %s, want about now", got)
			}
			return ""
		}},
		{"key bundle, tlog optional, with a timestamp: none (anyone can timestamp an old key signature)", "optional", func(f *fixture) {
			f.reg.AttestBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, Timestamp: true}, vulnType, vulnPredicate(time.Now()))
		}, (*fixture).keyAuthority, func(got time.Time) string {
			if !got.IsZero() {
				return fmt.Sprintf("got %s, want none", got)
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
			f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), TLog: true})
			tc.attest(f)
			res := f.verify(t, f.verifier(t, func(o *verify.Options) { o.TLog = tc.tlog }), []verify.Authority{tc.auth(f)}, vulnType)
			ar := res.Authorities[0]
			if len(ar.Attestations) != 1 {
				t.Fatalf("want one attestation, got %+v", ar)
			}
			if why := tc.want(ar.Attestations[0].VerifiedTime); why != "" {
				t.Error(why)
			}
		})
	}
}

func wantTime(got, want time.Time) string {
	if !got.Equal(want) {
		return fmt.Sprintf("verified time %s, want %s", got, want)
	}
	return ""
}

// backdated is the CI identity with a certificate valid around t.
func backdated(t time.Time) acctest.Identity {
	id := ciIdentity()
	id.NotBefore, id.NotAfter = t.Add(-time.Minute), t.Add(9*time.Minute)
	return id
}

// An old bundle copied into a new referrer manifest, whose
// org.opencontainers.image.created annotation says now, keeps the time its
// log entry says.
func TestRepublishedBundleKeepsItsVerifiedTime(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	logged := time.Now().Add(-20 * time.Hour).Truncate(time.Second).UTC()
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	var old []byte
	f.reg.AttestBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, LogTime: logged,
		Tamper: func(b []byte) []byte { old = b; return b }}, vulnType, vulnPredicate(logged))
	time.Sleep(1100 * time.Millisecond) // a later created annotation, at cosign's one-second resolution
	f.reg.WriteBundle(t, "team/api", f.digest, old, vulnType)
	refs := f.reg.Referrers(t, "team/api", f.digest)
	created := map[string]bool{}
	for _, d := range refs {
		created[d.Annotations["org.opencontainers.image.created"]] = true
	}
	if len(refs) != 3 || len(created) < 2 {
		t.Fatalf("want the signature and two referrer manifests of one bundle with different created annotations, got %+v", refs)
	}
	res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()}, vulnType)
	atts := res.Authorities[0].Attestations
	if len(atts) != 2 {
		t.Fatalf("want the bundle verified under both manifests, got %+v", res.Authorities[0])
	}
	for _, a := range atts {
		if !a.VerifiedTime.Equal(logged) {
			t.Errorf("verified time %s, want the log's %s whatever the manifest says", a.VerifiedTime, logged)
		}
	}
}

// junkReferrer attaches a bundle-typed referrer whose bundle is junk, with
// a created annotation that would sort it first.
func junkReferrer(t testing.TB, repo name.Repository, subject v1.Descriptor, i int) {
	t.Helper()
	layer := static.NewLayer([]byte(fmt.Sprintf(`{"junk":%d}`, i)), "application/vnd.dev.sigstore.bundle.v0.3+json")
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.oci.empty.v1+json")
	img, ok := mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.created":  "2099-01-01T00:00:00Z",
		"dev.sigstore.bundle.predicateType": verify.SignPredicateType,
	}).(v1.Image)
	if !ok {
		t.Fatal("annotations")
	}
	img, ok = mutate.Subject(img, subject).(v1.Image)
	if !ok {
		t.Fatal("subject")
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Digest(d.String()), img, remote.WithAuth(authn.Anonymous)); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) subject(t testing.TB) v1.Descriptor {
	t.Helper()
	desc, err := remote.Head(f.repo.Digest(f.digest.String()), remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
}

// A flood of junk referrers dated in the future does not push the real
// signature out of what is examined (it was cut at the 100 newest by the
// created annotation).
func TestReferrerFloodDoesNotHideTheSignature(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	subject := f.subject(t)
	for i := range 150 {
		junkReferrer(t, f.repo, subject, i)
	}
	res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()})
	ar := res.Authorities[0]
	if len(ar.Signatures) != 1 {
		t.Fatalf("the real signature among 150 junk referrers was not found: %d reasons, first: %v", len(ar.Reasons), ar.Reasons[:min(3, len(ar.Reasons))])
	}
	t.Run("control: without the real signature, the reasons are capped", func(t *testing.T) {
		g := newFixture(t, acctest.NewRegistry(t))
		s := g.subject(t)
		for i := range 30 {
			junkReferrer(t, g.repo, s, i)
		}
		res := g.verify(t, g.verifier(t), []verify.Authority{g.keyAuthority()})
		rejected(t, res.Authorities[0], "and 20 more candidates that did not verify")
		if n := len(res.Authorities[0].Reasons); n != 11 {
			t.Errorf("%d reasons, want 10 and a count", n)
		}
	})
}

// pagedRegistry fronts a test registry and serves its referrers listings
// in pages of pageSize with Link headers, optionally padded with extra
// descriptors (which nothing stores) to model a flood.
type pagedRegistry struct {
	host     string
	pageSize int
	pad      int
	// nextHost, when set, sends the first page's next link elsewhere.
	nextHost string
	// loop makes the second page link back to the first.
	loop bool
}

func newPagedRegistry(t testing.TB, inner *acctest.Registry, p *pagedRegistry) *pagedRegistry {
	t.Helper()
	target, err := url.Parse(inner.Server.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/referrers/") {
			proxy.ServeHTTP(w, req)
			return
		}
		resp, err := http.Get(inner.Server.URL + req.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var idx v1.IndexManifest
		if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		all := idx.Manifests
		for i := range p.pad {
			h, _, _ := v1.SHA256(strings.NewReader(fmt.Sprint("pad ", i)))
			all = append([]v1.Descriptor{{MediaType: types.OCIManifestSchema1, Digest: h, Size: 100, ArtifactType: "application/vnd.example.junk"}}, all...)
		}
		page, _ := strconv.Atoi(req.URL.Query().Get("page")) // no page: the first
		from, to := page*p.pageSize, min((page+1)*p.pageSize, len(all))
		if from > len(all) {
			from = len(all)
		}
		idx.Manifests = all[from:to]
		switch {
		case p.loop && page == 1:
			w.Header().Set("Link", fmt.Sprintf(`<%s?page=0>; rel="next"`, req.URL.Path))
		case p.nextHost != "" && page == 0:
			w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?page=1>; rel="next"`, p.nextHost, req.URL.Path))
		case to < len(all):
			w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, req.URL.Path, page+1))
		}
		w.Header().Set("Content-Type", string(types.OCIImageIndex))
		_ = json.NewEncoder(w).Encode(idx)
	}))
	t.Cleanup(srv.Close)
	p.host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

func (f *fixture) verifyAt(t testing.TB, host string, auths []verify.Authority) (*verify.Result, error) {
	t.Helper()
	repo, err := name.NewRepository(host+"/team/api", name.WeakValidation)
	if err != nil {
		t.Fatal(err)
	}
	return f.verifier(t).Verify(context.Background(), verify.Request{Repository: repo, Digest: f.digest, Authorities: auths})
}

// A referrers listing served in pages is read to its end: the signature on
// the last page is found (go-containerregistry reads the first page only).
func TestReferrersListingIsPaginatedAndBounded(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})

	t.Run("signature on page 4 of 4 is found", func(t *testing.T) {
		p := newPagedRegistry(t, f.reg, &pagedRegistry{pageSize: 2, pad: 6})
		res, err := f.verifyAt(t, p.host, []verify.Authority{f.keyAuthority()})
		if err != nil {
			t.Fatal(err)
		}
		s := onlySignature(t, res.Authorities[0])
		if s.Location != "referrers API" {
			t.Errorf("location %q", s.Location)
		}
	})
	t.Run("control: one page", func(t *testing.T) {
		p := newPagedRegistry(t, f.reg, &pagedRegistry{pageSize: 1000, pad: 6})
		res, err := f.verifyAt(t, p.host, []verify.Authority{f.keyAuthority()})
		if err != nil {
			t.Fatal(err)
		}
		onlySignature(t, res.Authorities[0])
	})
	for _, tc := range []struct {
		name string
		p    pagedRegistry
		want string
	}{
		{"a flood of 1000 junk entries before the signature, over pages → error naming the image and the bound",
			pagedRegistry{pageSize: 300, pad: 1000}, "lists more than 1000 entries, the most imageguard examines"},
		{"the same flood on one page → the same error",
			pagedRegistry{pageSize: 5000, pad: 1000}, "lists more than 1000 entries, the most imageguard examines"},
		{"pages that never end → error", pagedRegistry{pageSize: 2, pad: 6, loop: true}, "link back to"},
		{"a next link to another host → error, not followed with our credentials", pagedRegistry{pageSize: 2, pad: 6, nextHost: "evil.example:443"},
			"points to http://evil.example:443/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			pr := newPagedRegistry(t, f.reg, &p)
			_, err := f.verifyAt(t, pr.host, []verify.Authority{f.keyAuthority()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
			if !strings.Contains(err.Error(), pr.host+"/team/api@"+f.digest.String()) {
				t.Errorf("the error does not name the image: %v", err)
			}
			t.Log(err)
		})
	}
}

// A log entry's integrated time counts only under its signed entry
// timestamp: an attacker who strips the SET and rewrites integratedTime
// (the inclusion proof does not cover it) gets no fresher verified time.
func TestForgedIntegratedTimeIsNotVerifiedTime(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	logged := time.Now().Add(-20 * time.Hour).Truncate(time.Second).UTC()
	forged := time.Now().Truncate(time.Second).UTC()
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	f.reg.AttestBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true, LogTime: logged,
		Tamper: acctest.TamperBundleJSON(func(b map[string]any) {
			vm, _ := b["verificationMaterial"].(map[string]any)
			entries, _ := vm["tlogEntries"].([]any)
			e, _ := entries[0].(map[string]any)
			delete(e, "inclusionPromise")
			e["integratedTime"] = fmt.Sprint(forged.Unix())
		})}, vulnType, vulnPredicate(logged))
	res := f.verify(t, f.verifier(t), []verify.Authority{f.keyAuthority()}, vulnType)
	for _, a := range res.Authorities[0].Attestations {
		if !a.VerifiedTime.IsZero() && !a.VerifiedTime.Equal(logged) {
			t.Fatalf("verified time %s from an unsigned integratedTime (logged %s)", a.VerifiedTime, logged)
		}
	}
	if len(res.Authorities[0].Attestations) != 0 {
		t.Fatalf("an entry without its signed entry timestamp verified: %+v", res.Authorities[0].Attestations)
	}
	hasReason(t, res.Authorities[0], "no verifiable transparency log time or signed timestamp proves when it was signed")
}

package provider

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// policyBench is 20 names over 10 unique, signed digests with the fixture
// database.
type policyBench struct {
	reg    *acctest.Registry
	images map[string]string
	key    *acctest.KeyPair
	root   string
	dbRepo string
	dbDir  string
}

func newPolicyBench(tb testing.TB) *policyBench {
	reg := acctest.NewRegistry(tb)
	now := time.Now().UTC()
	reg.PushTrivyDB(tb, "aquasecurity/trivy-db:2", acctest.TrivyDBArchive(tb, []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(now)))
	ss := acctest.NewSigstore(tb)
	key := acctest.NewKeyPair(tb)
	p := &policyBench{reg: reg, images: map[string]string{}, key: key, root: ss.TrustedRootJSON(tb), dbRepo: reg.Ref("aquasecurity/trivy-db:2"), dbDir: tb.TempDir()}
	for i := 0; i < 10; i++ {
		repo := fmt.Sprintf("team/app%d", i)
		d := reg.Push(tb, repo+":1", acctest.Image(acctest.Config{User: "1000"},
			acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}, acctest.Package{Name: "busybox", Version: "1.36.1-r30"}),
			acctest.NpmLayer("app", acctest.Package{Name: "express", Version: fmt.Sprintf("4.21.%d", i)})))
		reg.SignBundle(tb, repo, d, acctest.Signer{Key: key, Sigstore: ss, TLog: true})
		p.images[fmt.Sprintf("a%d", i)] = reg.Ref(repo + ":1")
		p.images[fmt.Sprintf("b%d", i)] = reg.Ref(repo) + "@" + d.String() // same digest, another name
	}
	return p
}

// data builds what a fresh provider process would have: new registry
// client, scanner and caches (the database is already downloaded).
func (p *policyBench) data(tb testing.TB) *providerData {
	client, err := registry.New(registry.Options{Keychain: authn.NewMultiKeychain(), Retry: remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 2}})
	if err != nil {
		tb.Fatal(err)
	}
	mgr := vulndb.NewManager(vulndb.Options{Repositories: []string{p.dbRepo}, CacheDir: p.dbDir, RemoteOptions: client.RemoteOptions()})
	cache := tb.TempDir()
	return &providerData{Registry: client, Timeout: time.Minute, CacheDir: cache, Scanner: scan.New(client, scan.NewLocal(mgr, cache), cache)}
}

func (p *policyBench) settings(concurrency int) policySettings {
	return policySettings{
		Rules:       policy.Rules{RequireNonRoot: true, ForbiddenPorts: []string{"22"}},
		Scan:        &scanSettings{Rules: policy.ScanRules{Threshold: policy.SeverityHigh}, Enforcement: "warn"},
		Verify:      &verifySettings{Authorities: []verify.Authority{{Name: "ci", Key: &verify.KeyAuthority{PublicKeyPEM: p.key.PublicKeyPEM}}}, Rules: policy.VerifyRules{RequireAll: true}, Options: verify.Options{TLog: "required", TrustedRootJSON: p.root}, Enforcement: "warn"},
		Enforcement: "error",
		Concurrency: concurrency,
	}
}

func (p *policyBench) run(tb testing.TB, concurrency int) (scans, verifications int64) {
	d := &policyDataSource{dataSourceConfig: dataSourceConfig{data: p.data(tb)}, now: time.Now}
	names, resolved, outcome, diags := d.evaluate(context.Background(), p.images, p.settings(concurrency), time.Now())
	if diags.HasError() {
		tb.Fatalf("%v", diags)
	}
	if len(names) != 20 || outcome.Judged != 10 {
		tb.Fatalf("%d names, %d unique digests", len(names), outcome.Judged)
	}
	for _, n := range names {
		if v := outcome.For(resolved[n]); v.Err != nil || len(v.Violations) != 0 {
			tb.Fatalf("%s: %v %+v", n, v.Err, v.Violations)
		}
	}
	return d.data.Scanner.Analyses(), d.data.verifications.Load()
}

// BenchmarkPolicy: 20 names over 10 unique digests, scan + verify + rules,
// each iteration a cold provider process (empty layer and report caches).
func BenchmarkPolicy(b *testing.B) {
	p := newPolicyBench(b)
	p.run(b, 1) // downloads the database once, outside the timings
	for _, c := range []int{1, defaultConcurrency} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) {
			var scans, verifications int64
			for i := 0; i < b.N; i++ {
				s, v := p.run(b, c)
				scans += s
				verifications += v
			}
			b.ReportMetric(float64(scans)/float64(b.N), "scans/op")
			b.ReportMetric(float64(verifications)/float64(b.N), "verifications/op")
		})
	}
}

// TestPolicyJudgesEachDigestOnce is the benchmark's invariant, checked on
// every `make test`.
func TestPolicyJudgesEachDigestOnce(t *testing.T) {
	p := newPolicyBench(t)
	scans, verifications := p.run(t, defaultConcurrency)
	if scans != 10 || verifications != 10 {
		t.Fatalf("20 names over 10 digests: %d scans and %d verifications, want 10 each", scans, verifications)
	}
}

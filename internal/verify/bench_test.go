package verify_test

import (
	"context"
	"testing"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// benchmarkVerify measures one verification of a bundle found through the
// referrers API once the digest is known, with a warm registry session (the
// /v2/ ping and token are per Verifier and repository), and reports the
// registry requests it costs.
func benchmarkVerify(b *testing.B, sign func(f *fixture), auth func(f *fixture) verify.Authority) {
	reg := acctest.NewRegistry(b)
	f := newFixture(b, reg)
	sign(f)
	v := f.verifier(b)
	req := verify.Request{Repository: f.repo, Digest: f.digest, Authorities: []verify.Authority{auth(f)}}
	ctx := context.Background()
	check := func() {
		res, err := v.Verify(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if ar := res.Authorities[0]; len(ar.Signatures) != 1 {
			b.Fatalf("not verified: %q", ar.Reasons)
		}
	}
	check() // warm the registry session
	reg.ResetRequests()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		check()
	}
	b.StopTimer()
	b.ReportMetric(float64(len(reg.Requests()))/float64(b.N), "req/op")
}

func BenchmarkVerifyKey(b *testing.B) {
	benchmarkVerify(b, func(f *fixture) {
		f.reg.SignBundle(b, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	}, (*fixture).keyAuthority)
}

func BenchmarkVerifyKeyless(b *testing.B) {
	benchmarkVerify(b, func(f *fixture) {
		f.reg.SignBundle(b, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: ciIdentity(), TLog: true, Timestamp: true})
	}, func(*fixture) verify.Authority { return keylessAuthority() })
}

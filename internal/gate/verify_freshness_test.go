package gate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// max_age is measured from the time the transparency log vouches for, not
// from the dates an attestation carries: an attacker holding an old signed
// attestation (or a signer's pipeline forward-dating its scans) cannot make
// it look fresh.
func TestAttestationMaxAgeFromVerifiedTime(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	scan := func(at time.Time) map[string]any {
		return map[string]any{"scanner": map[string]any{"result": map[string]any{}}, "metadata": map[string]any{
			"scanStartedOn": at.Add(-time.Second).Format(time.RFC3339), "scanFinishedOn": at.Format(time.RFC3339)}}
	}
	cases := []struct {
		name   string
		tlog   string
		signer func(ss *acctest.Sigstore, key *acctest.KeyPair) acctest.Signer
		scan   time.Time
		want   string // "" passes
	}{
		{"logged 20h ago, scan dated an hour ago (forward-dated), max_age 12h → refused",
			"required", func(ss *acctest.Sigstore, key *acctest.KeyPair) acctest.Signer {
				return acctest.Signer{Key: key, Sigstore: ss, TLog: true, LogTime: now.Add(-20 * time.Hour)}
			}, now.Add(-time.Hour), "its predicate says it was made at"},
		{"logged 20h ago, scan dated 20h ago, max_age 12h → refused as old",
			"required", func(ss *acctest.Sigstore, key *acctest.KeyPair) acctest.Signer {
				return acctest.Signer{Key: key, Sigstore: ss, TLog: true, LogTime: now.Add(-20 * time.Hour)}
			}, now.Add(-20*time.Hour - time.Minute), "older than max_age 12h0m0s"},
		{"key signature without a log entry (tlog optional), max_age 12h → refused: no verified time",
			"optional", func(ss *acctest.Sigstore, key *acctest.KeyPair) acctest.Signer {
				return acctest.Signer{Key: key}
			}, now.Add(-time.Minute), `it has no verified time, so max_age cannot be judged`},
		{"control: logged an hour ago, scanned just before, max_age 12h → passes",
			"required", func(ss *acctest.Sigstore, key *acctest.KeyPair) acctest.Signer {
				return acctest.Signer{Key: key, Sigstore: ss, TLog: true, LogTime: now.Add(-time.Hour)}
			}, now.Add(-time.Hour - time.Minute), ""},
		{"control: keyless, logged now, max_age 12h → passes",
			"required", func(ss *acctest.Sigstore, key *acctest.KeyPair) acctest.Signer {
				return acctest.Signer{Sigstore: ss, Identity: acctest.Identity{Issuer: "https://accounts.acme.com", Subject: "ci@acme.com"}, TLog: true}
			}, now.Add(-time.Minute), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := acctest.NewRegistry(t)
			ss, key := acctest.NewSigstore(t), acctest.NewKeyPair(t)
			d := reg.Push(t, "team/api:1", acctest.Image(acctest.Config{}, acctest.Layer(acctest.File{Path: "app", Content: t.Name()})))
			signer := tc.signer(ss, key)
			reg.SignBundle(t, "team/api", d, signer)
			reg.AttestBundle(t, "team/api", d, signer, policy.VulnPredicateType, scan(tc.scan))

			client, err := registry.New(registry.Options{Keychain: authn.NewMultiKeychain()})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := client.ParseReference(reg.Ref("team/api:1"))
			if err != nil {
				t.Fatal(err)
			}
			resolved, err := client.Resolve(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			v, err := verify.New(verify.Options{TrustedRootJSON: ss.TrustedRootJSON(t), TLog: tc.tlog, RemoteOptions: []remote.Option{remote.WithAuth(authn.Anonymous)}})
			if err != nil {
				t.Fatal(err)
			}
			auth := verify.Authority{Name: "ci", Key: &verify.KeyAuthority{PublicKeyPEM: key.PublicKeyPEM}}
			if signer.Key == nil {
				auth = verify.Authority{Name: "ci", Keyless: &verify.KeylessAuthority{Issuer: "https://accounts.acme.com", Subject: "ci@acme.com"}}
			}
			out, err := gate.Verify(context.Background(), client, v, resolved, gate.VerifySettings{
				Authorities:  []verify.Authority{auth},
				Attestations: []verify.AttestationRequest{{PredicateType: policy.VulnPredicateType}},
				Rules:        policy.VerifyRules{RequireAll: true, Now: now, Attestations: []policy.AttestationRule{{PredicateType: policy.VulnPredicateType, MaxAge: 12 * time.Hour}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if !out.Passed() {
					t.Fatalf("want a pass, got %+v", out.Violations)
				}
				return
			}
			if out.Passed() || len(out.Violations) != 1 || !strings.Contains(out.Violations[0].Found, tc.want) {
				t.Fatalf("want one violation containing %q, got passed=%v %+v", tc.want, out.Passed(), out.Violations)
			}
			t.Log(out.Violations[0].Found)
		})
	}
}

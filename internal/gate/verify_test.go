package gate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// Attestations attached per platform: a condition must hold on every
// platform of the index, not on one of them.
func TestVerifyAttestationsPerPlatform(t *testing.T) {
	reg := acctest.NewRegistry(t)
	ss, key := acctest.NewSigstore(t), acctest.NewKeyPair(t)
	amd := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{Architecture: "arm64"}, acctest.AlpineLayer("3.23.2"))
	idx := reg.PushIndex(t, "team/multi:1", acctest.Index(amd, arm))
	amdDigest, _ := amd.Digest()
	armDigest, _ := arm.Digest()
	signer := acctest.Signer{Key: key, Sigstore: ss, TLog: true}
	reg.SignBundle(t, "team/multi", idx, signer)
	const slsa1 = "https://slsa.dev/provenance/v1"
	provenance := func(repo string) map[string]any {
		return map[string]any{"buildDefinition": map[string]any{"externalParameters": map[string]any{"workflow": map[string]any{"repository": repo}}}}
	}
	reg.AttestBundle(t, "team/multi", amdDigest, signer, slsa1, provenance("https://github.com/acme/api"))
	reg.AttestBundle(t, "team/multi", armDigest, signer, slsa1, provenance("https://github.com/evil/api"))

	client, err := registry.New(registry.Options{Keychain: authn.NewMultiKeychain()})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := client.ParseReference(reg.Ref("team/multi:1"))
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := client.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Options{TrustedRootJSON: ss.TrustedRootJSON(t), RemoteOptions: []remote.Option{remote.WithAuth(authn.Anonymous)}})
	if err != nil {
		t.Fatal(err)
	}
	cond, err := policy.CompileCondition(`predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/api"`)
	if err != nil {
		t.Fatal(err)
	}
	settings := func(platforms ...string) gate.VerifySettings {
		return gate.VerifySettings{
			Platforms:    platforms,
			Authorities:  []verify.Authority{{Name: "ci", Key: &verify.KeyAuthority{PublicKeyPEM: key.PublicKeyPEM}}},
			Attestations: []verify.AttestationRequest{{PredicateType: slsa1}},
			Rules:        policy.VerifyRules{RequireAll: true, Attestations: []policy.AttestationRule{{PredicateType: slsa1, Condition: cond}}},
		}
	}

	out, err := gate.Verify(context.Background(), client, v, resolved, settings())
	if err != nil {
		t.Fatal(err)
	}
	if out.Passed() || len(out.Violations) != 1 || !strings.Contains(out.Violations[0].Found, "on platform linux/arm64") {
		t.Fatalf("all platforms: passed=%v violations=%+v; want one naming linux/arm64", out.Passed(), out.Violations)
	}
	// arm64 attested again, correctly: of two attestations of one type, the
	// one that satisfies the condition counts, whichever the registry lists
	// first.
	reg.AttestBundle(t, "team/multi", armDigest, signer, slsa1, provenance("https://github.com/acme/api"))
	for i := 0; i < 3; i++ {
		out, err := gate.Verify(context.Background(), client, v, resolved, settings())
		if err != nil {
			t.Fatal(err)
		}
		if !out.Passed() {
			t.Fatalf("run %d, arm64 attested twice: %+v", i, out.Violations)
		}
	}
	// Control: judging only amd64, whose provenance holds, passes.
	out, err = gate.Verify(context.Background(), client, v, resolved, settings("linux/amd64"))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Passed() {
		t.Fatalf("amd64 only: %+v", out.Violations)
	}
}

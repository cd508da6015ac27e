package gate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// Provenance per platform of an index: GitHub attests the digest it was
// given; provenance that is not on the index must be on every platform
// judged, each platform's subject being its own digest. No authority and
// no signature are needed.
func TestVerifyProvenancePerPlatform(t *testing.T) {
	reg := acctest.NewRegistry(t)
	ss := acctest.NewSigstore(t)
	amd := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{Architecture: "arm64"}, acctest.AlpineLayer("3.23.2"))
	idx := reg.PushIndex(t, "team/multi:1", acctest.Index(amd, arm))
	amdDigest, _ := amd.Digest()
	armDigest, _ := arm.Digest()
	release := acctest.GitHubBuild{Repository: "acme/api", Workflow: "acme/api/.github/workflows/release.yml@refs/heads/main", Ref: "refs/heads/main", Commit: "0123456789abcdef0123456789abcdef01234567"}
	feature := release
	feature.Ref, feature.Workflow = "refs/heads/feature-x", "acme/api/.github/workflows/release.yml@refs/heads/feature-x"
	attest := func(d v1.Hash, b acctest.GitHubBuild) {
		reg.AttestGitHub(t, "team/multi", d, acctest.Signer{Sigstore: ss, Identity: acctest.GitHubActions(b), TLog: true}, acctest.SLSAProvenanceV1, acctest.GitHubProvenance(b))
	}
	attest(amdDigest, release)
	attest(armDigest, feature)

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
	settings := func(platforms ...string) gate.VerifySettings {
		return gate.VerifySettings{
			Platforms: platforms,
			Rules: policy.VerifyRules{Now: time.Now(), Provenance: &policy.ProvenanceRule{
				SourceRepository: "github.com/acme/api", SourceRef: "refs/heads/main", PredicateType: verify.ProvenancePredicateType, MaxAge: time.Hour}},
		}
	}
	out, err := gate.Verify(context.Background(), client, v, resolved, settings())
	if err != nil {
		t.Fatal(err)
	}
	if out.Passed() || len(out.Violations) != 1 || out.Violations[0].Rule != "provenance" ||
		!strings.Contains(out.Violations[0].Found, "on platform linux/arm64") || !strings.Contains(out.Violations[0].Found, "source_ref requires refs/heads/main, found refs/heads/feature-x") {
		t.Fatalf("all platforms: passed=%v violations=%+v; want one naming linux/arm64 and its ref", out.Passed(), out.Violations)
	}
	// Control: judging amd64 only passes, with its facts.
	out, err = gate.Verify(context.Background(), client, v, resolved, settings("linux/amd64"))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Passed() || len(out.Provenance) != 1 || out.Provenance[0].Digest != amdDigest.String() || out.Provenance[0].Facts.Ref != "refs/heads/main" {
		t.Fatalf("amd64 only: violations %+v provenance %+v", out.Violations, out.Provenance)
	}
	// Provenance on the index itself covers every platform.
	attest(idx, release)
	out, err = gate.Verify(context.Background(), client, v, resolved, settings())
	if err != nil {
		t.Fatal(err)
	}
	if !out.Passed() || len(out.Provenance) == 0 || out.Provenance[0].Digest != idx.String() || out.Provenance[0].Platform != "" {
		t.Fatalf("index attested: violations %+v provenance %+v", out.Violations, out.Provenance)
	}
}

package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// The "fail closed for real" cases that live in the gates' own
// orchestration: rules on every platform of an index, pinned naming only
// what was judged, attestation conditions on every platform.

// imageguard_image with rules on an index judges every platform: an arm64
// child running as root fails the plan although the default platform
// passes. With `platform`, only that platform is judged and `pinned` names
// its manifest, not the index.
func TestAccImageRules_everyPlatformAndPinnedJudged(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	amd := acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.22.2"))
	arm := acctest.Image(acctest.Config{User: "root", Architecture: "arm64"}, acctest.AlpineLayer("3.22.2"))
	idx := reg.PushIndex(t, "team/multi:1", acctest.Index(amd, arm))
	amdDigest, err := amd.Digest()
	if err != nil {
		t.Fatal(err)
	}
	config := func(platform string) string {
		return fmt.Sprintf(`
data "imageguard_image" "x" {
  ref      = %q
  platform = %s
  rules {
    require_non_root = true
  }
}`, reg.Ref("team/multi:1"), platform)
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: config("null"), ExpectError: wrapped(`(?s)Image violates 1 rule.*require_non_root: runs as root.*linux/arm64`)},
			{
				Config: config(`"linux/amd64"`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_image.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_image.x", "digest", knownvalue.StringExact(idx.String())),
					check("data.imageguard_image.x", "pinned", knownvalue.StringExact(reg.Host+"/team/multi@"+amdDigest.String())),
				},
			},
			{Config: config(`"linux/arm64"`), ExpectError: wrapped(`(?s)require_non_root: runs as root`)},
		},
	})
}

// An attestation condition on a multi-platform image must hold on every
// platform: true on amd64 and false on arm64 fails.
func TestAccVerify_attestationConditionOnEveryPlatform(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	amd := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.22.2"))
	arm := acctest.Image(acctest.Config{Architecture: "arm64"}, acctest.AlpineLayer("3.22.2"))
	idx := f.reg.PushIndex(t, "team/multi:1", acctest.Index(amd, arm))
	amdDigest, _ := amd.Digest()
	armDigest, _ := arm.Digest()
	signer := acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true}
	f.reg.SignBundle(t, "team/multi", idx, signer)
	provenance := func(repo string) map[string]any {
		return map[string]any{"buildDefinition": map[string]any{"externalParameters": map[string]any{"workflow": map[string]any{"repository": repo}}}}
	}
	f.reg.AttestBundle(t, "team/multi", amdDigest, signer, slsaV1, provenance("https://github.com/acme/api"))
	f.reg.AttestBundle(t, "team/multi", armDigest, signer, slsaV1, provenance("https://github.com/evil/api"))
	body := f.keyAuthority("ci", f.key) + `
  attestation {
    predicate_type = "slsaprovenance1"
    condition      = "predicate.buildDefinition.externalParameters.workflow.repository == 'https://github.com/acme/api'"
  }`
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config:      f.config(f.reg.Ref("team/multi:1"), body),
				ExpectError: wrapped(`(?s)Image signature not verified.*on platform linux/arm64.*condition.*is false`),
			},
			{
				// Control: the arm64 platform re-attested from the right repository.
				PreConfig: func() {
					f.reg.AttestBundle(t, "team/multi", armDigest, signer, slsaV1, provenance("https://github.com/acme/api"))
				},
				Config: f.config(f.reg.Ref("team/multi:1"), body),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
				},
			},
		},
	})
}

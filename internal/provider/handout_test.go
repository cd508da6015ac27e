package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// An attacker with push rights annotates a vulnerable arm64 image as a
// BuildKit attestation manifest. containerd and CRI-O choose entries by
// platform and never read that annotation, so arm64 nodes would run it:
// the gate must judge it, whatever it claims.
func TestAccHostileRegistry_attestationClaims(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t)
	amd64 := &v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := &v1.Platform{OS: "linux", Architecture: "arm64"}
	vulnerableArm := acctest.Image(acctest.Config{User: "root", Architecture: "arm64"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"}))
	claim := map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": hostileDigestOf(t, f.fixed).String()}
	f.reg.PushOddIndex(t, "odd/claimed:platform", acctest.IndexEntry{Image: f.fixed, Platform: amd64}, acctest.IndexEntry{Image: vulnerableArm, Platform: arm64, Annotations: claim})
	f.reg.PushOddIndex(t, "odd/claimed:none", acctest.IndexEntry{Image: f.fixed, Platform: amd64}, acctest.IndexEntry{Image: vulnerableArm, Annotations: claim})
	// Control: BuildKit's own layout (unknown/unknown) stays skipped.
	buildkit := f.reg.PushOddIndex(t, "odd/claimed:buildkit", acctest.IndexEntry{Image: f.fixed, Platform: amd64},
		acctest.Attestation(hostileDigestOf(t, f.fixed), acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"})))

	scan := func(ref string) string {
		return f.provider(t, "") + fmt.Sprintf(`
data "imageguard_scan" "x" {
  image = %q%s
}`, f.reg.Ref(ref), eoslFixtureIgnoreHCL)
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config:      scan("odd/claimed:platform"),
				ExpectError: wrapped(`(?s)Image has HIGH vulnerabilities.*odd/claimed:platform.*HIGH CVE-2025-26519 in musl 1.2.5-r0 → 1.2.5-r1 \[linux/arm64\]`),
			},
			{
				Config:      scan("odd/claimed:none"),
				ExpectError: wrapped(`(?s)Image has HIGH vulnerabilities.*odd/claimed:none.*HIGH CVE-2025-26519 in musl 1.2.5-r0 → 1.2.5-r1 \[linux/arm64\]`),
			},
			{
				// imageguard_image finds the platform a runtime would run,
				// and its rules judge it (it was "platform not in image").
				Config: f.provider(t, "") + fmt.Sprintf(`
data "imageguard_image" "x" {
  ref      = %q
  platform = "linux/arm64"
  rules {
    require_non_root = true
  }
}`, f.reg.Ref("odd/claimed:platform")),
				ExpectError: wrapped(`(?s)require_non_root: runs as root`),
			},
			{
				Config: scan("odd/claimed:buildkit"),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.x", "pinned", knownvalue.StringExact(f.reg.Host+"/odd/claimed@"+buildkit.String())),
				},
			},
		},
	})
}

// `platforms` narrowed to one platform of an index narrows what is handed
// out: arm64 nodes must not get an index whose arm64 image nobody judged.
func TestAccVerify_narrowedPlatformsNarrowPinned(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	amd := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{Architecture: "arm64"}, acctest.AlpineLayer("3.23.2"))
	idx := f.reg.PushIndex(t, "team/narrow:1", acctest.Index(amd, arm))
	f.reg.SignBundle(t, "team/narrow", idx, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	amdDigest := hostileDigestOf(t, amd)
	withPlatforms := func(platforms string) string {
		return fmt.Sprintf(`
data "imageguard_verify" "x" {
  image             = %q
  trusted_root_json = %q
  platforms         = %s
%s
}`, f.reg.Ref("team/narrow:1"), f.root, platforms, f.keyAuthority("ci", f.key))
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: withPlatforms(`["linux/amd64"]`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "digest", knownvalue.StringExact(idx.String())),
					check("data.imageguard_verify.x", "pinned", knownvalue.StringExact(f.reg.Host+"/team/narrow@"+amdDigest.String())),
				},
			},
			{
				// Control: every platform judged, the index is handed out.
				Config: withPlatforms(`["linux/amd64", "linux/arm64"]`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "pinned", knownvalue.StringExact(f.reg.Host+"/team/narrow@"+idx.String())),
				},
			},
		},
	})
}

// imageguard_image with `platform` on an index hands out the manifest it
// described, never the index whose other platforms nobody saw.
func TestAccImage_platformNarrowsPinned(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	amd := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{Architecture: "arm64"}, acctest.AlpineLayer("3.23.2"))
	idx := reg.PushIndex(t, "team/narrow:1", acctest.Index(amd, arm))
	armDigest := hostileDigestOf(t, arm)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
data "imageguard_image" "arm" {
  ref      = %q
  platform = "linux/arm64"
}
data "imageguard_image" "all" {
  ref = %q
}`, reg.Ref("team/narrow:1"), reg.Ref("team/narrow:1")),
			ConfigStateChecks: []statecheck.StateCheck{
				check("data.imageguard_image.arm", "pinned", knownvalue.StringExact(reg.Host+"/team/narrow@"+armDigest.String())),
				check("data.imageguard_image.arm", "digest", knownvalue.StringExact(idx.String())),
				check("data.imageguard_image.all", "pinned", knownvalue.StringExact(reg.Host+"/team/narrow@"+idx.String())),
			},
		}},
	})
}

// Narrowing `platforms` on an existing pin narrows `pinned` on the next
// plan: a kept approval does not keep handing out the whole index.
func TestAccPin_narrowedPlatformsNarrowPinned(t *testing.T) {
	t.Parallel()
	f := newPinFixture(t)
	amd := acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}))
	arm := acctest.Image(acctest.Config{User: "1000", Architecture: "arm64"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}))
	idx := f.reg.PushIndex(t, "team/app:1", acctest.Index(amd, arm))
	amdDigest := hostileDigestOf(t, amd)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.config(""),
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_pin.app", "pinned", knownvalue.StringExact(f.reg.Host+"/team/app@"+idx.String())),
				},
			},
			{
				Config: f.config(`  platforms = ["linux/amd64"]`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_pin.app", plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue("imageguard_pin.app", tfjsonpath.New("pinned"), knownvalue.StringExact(f.reg.Host+"/team/app@"+amdDigest.String())),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_pin.app", "digest", knownvalue.StringExact(idx.String())),
					check("imageguard_pin.app", "pinned", knownvalue.StringExact(f.reg.Host+"/team/app@"+amdDigest.String())),
				},
			},
			{
				// Widened again: every platform judged, the index comes back.
				Config: f.config(""),
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_pin.app", "pinned", knownvalue.StringExact(f.reg.Host+"/team/app@"+idx.String())),
				},
			},
		},
	})
}

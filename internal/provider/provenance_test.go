package provider

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

const releaseCommit = "4f2c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"

func releaseBuild() acctest.GitHubBuild {
	return acctest.GitHubBuild{Repository: "acme/api", Workflow: "acme/api/.github/workflows/release.yml@refs/heads/main", Ref: "refs/heads/main", Commit: releaseCommit}
}

// attestBuild attaches provenance for b as actions/attest-build-provenance
// does, logged at logTime (zero: now).
func (f *verifyFixture) attestBuild(t *testing.T, repo string, d v1.Hash, b acctest.GitHubBuild, logTime time.Time) {
	t.Helper()
	id := acctest.GitHubActions(b)
	if !logTime.IsZero() {
		id.NotBefore, id.NotAfter = logTime.Add(-time.Minute), logTime.Add(9*time.Minute)
	}
	f.reg.AttestGitHub(t, repo, d, acctest.Signer{Sigstore: f.ss, Identity: id, TLog: true, LogTime: logTime}, acctest.SLSAProvenanceV1, acctest.GitHubProvenance(b))
}

const strictProvenance = `
  provenance {
    source_repository        = "github.com/acme/api"
    signer_workflow          = "github.com/acme/api/.github/workflows/release.yml"
    source_ref               = "refs/heads/main"
    deny_self_hosted_runners = true
    max_age                  = %q
  }`

// TestAccVerify_provenance: imageguard_verify with a provenance block and
// no authority: the release build passes and its facts are outputs; a
// feature-branch CI build is refused naming what built it and what is
// required; an attestation older than max_age is refused, a younger one
// passes; require_signature = false lets an authority's attestation stand
// without an image signature, and the default still asks for one.
func TestAccVerify_provenance(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	release := f.push(t, "team/api:1", "a")
	f.attestBuild(t, "team/api", release, releaseBuild(), time.Time{})
	feature := f.push(t, "team/api:feature", "b")
	fb := releaseBuild()
	fb.Ref, fb.Workflow = "refs/heads/feature-x", "acme/api/.github/workflows/ci.yml@refs/heads/feature-x"
	f.attestBuild(t, "team/api", feature, fb, time.Time{})
	old := f.push(t, "team/api:old", "c")
	f.attestBuild(t, "team/api", old, releaseBuild(), time.Now().Add(-20*time.Hour))
	verdict := f.push(t, "team/api:verdict", "d")
	f.reg.AttestBundle(t, "team/api", verdict, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true}, "https://imageguard.dev/verdict/v1",
		map[string]any{"result": "passed", "judgedAt": time.Now().UTC().Format(time.RFC3339)})

	withAttestation := f.keyAuthority("gate", f.key) + `
  attestation {
    predicate_type = "https://imageguard.dev/verdict/v1"
  }`
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.config(f.reg.Ref("team/api:1"), fmt.Sprintf(strictProvenance, "720h")),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "pinned", knownvalue.StringExact(f.reg.Host+"/team/api@"+release.String())),
					check("data.imageguard_verify.x", "signatures", knownvalue.ListSizeExact(0)),
					check("data.imageguard_verify.x", "provenance_facts", knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectExact(map[string]knownvalue.Check{
						"digest": knownvalue.StringExact(release.String()), "platform": knownvalue.StringExact(""),
						"repository": knownvalue.StringExact("https://github.com/acme/api"), "ref": knownvalue.StringExact("refs/heads/main"),
						"commit":             knownvalue.StringExact(releaseCommit),
						"workflow":           knownvalue.StringExact("https://github.com/acme/api/.github/workflows/release.yml@refs/heads/main"),
						"builder":            knownvalue.StringExact("https://github.com/acme/api/.github/workflows/release.yml@refs/heads/main"),
						"runner_environment": knownvalue.StringExact("github-hosted"),
						"invocation":         knownvalue.StringExact("https://github.com/acme/api/actions/runs/42/attempts/1"),
						"issuer":             knownvalue.StringExact(ghIssuer),
						"build_time":         knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)),
					})})),
				},
			},
			{
				Config: f.config(f.reg.Ref("team/api:feature"), fmt.Sprintf(strictProvenance, "720h")),
				ExpectError: wrapped(`(?s)` + regexp.QuoteMeta(feature.String()) + `.*built by https://github.com/acme/api/.github/workflows/ci.yml@refs/heads/feature-x` +
					`.*signer_workflow requires https://github.com/acme/api/.github/workflows/release.yml, found https://github.com/acme/api/.github/workflows/ci.yml@refs/heads/feature-x` +
					`.*source_ref requires refs/heads/main, found refs/heads/feature-x`),
			},
			{
				Config:      f.config(f.reg.Ref("team/api:old"), fmt.Sprintf(strictProvenance, "1h")),
				ExpectError: wrapped(`(?s)provenance:.*older than max_age 1h0m0s`),
			},
			{
				// Control: the same attestation within max_age.
				Config:            f.config(f.reg.Ref("team/api:old"), fmt.Sprintf(strictProvenance, "24h")),
				ConfigStateChecks: []statecheck.StateCheck{check("data.imageguard_verify.x", "passed", knownvalue.Bool(true))},
			},
			{
				Config: f.config(f.reg.Ref("team/api:verdict"), withAttestation+`
  require_signature = false`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "signatures", knownvalue.ListSizeExact(0)),
					check("data.imageguard_verify.x", "attestations", knownvalue.ListSizeExact(1)),
					check("data.imageguard_verify.x", "provenance_facts", knownvalue.ListSizeExact(0)),
				},
			},
			{
				// Control: by default the authority must also have signed.
				Config:      f.config(f.reg.Ref("team/api:verdict"), withAttestation),
				ExpectError: wrapped(`(?s)authority "gate" did not verify: no signature found`),
			},
		},
	})
}

// TestAccVerify_provenanceValidation: the block's shape is checked at
// validation, before any registry is asked.
func TestAccVerify_provenanceValidation(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	image := f.reg.Ref("team/none:1")
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: f.config(image, "  provenance {}"), ExpectError: wrapped(`give source_repository`)},
			{Config: f.config(image, `  provenance { source_repository = "gitlab.example.com/acme/api" }`), ExpectError: wrapped(`neither github.com nor a GHE.com tenant`)},
			{Config: f.config(image, `
  provenance {
    source_owner = "github.com/acme"
    source_ref   = "refs/["
  }`), ExpectError: wrapped(`is not a valid glob`)},
			{Config: f.config(image, f.keyAuthority("k", f.key)+`
  require_signature = false`), ExpectError: wrapped(`Nothing to require without a signature`)},
			{Config: f.config(image, ""), ExpectError: wrapped("or a `provenance` block")},
		},
	})
}

// TestAccPolicy_provenance: the verify block of imageguard_policy takes the
// same provenance block; each image is judged on its own provenance.
func TestAccPolicy_provenance(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	release := f.push(t, "team/api:1", "a")
	f.attestBuild(t, "team/api", release, releaseBuild(), time.Time{})
	fork := f.push(t, "team/api:fork", "b")
	fb := releaseBuild()
	fb.Repository, fb.Workflow = "evil/api", "evil/api/.github/workflows/release.yml@refs/heads/main"
	f.attestBuild(t, "team/api", fork, fb, time.Time{})
	cfg := func(images string) string {
		return fmt.Sprintf(`
data "imageguard_policy" "p" {
  images = { %s }
  verify {
    trusted_root_json = %q
    provenance {
      source_repository = "github.com/acme/api"
      source_ref        = "refs/heads/main"
    }
  }
}`, images, f.root)
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg(fmt.Sprintf("api = %q", f.reg.Ref("team/api:1"))),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_policy.p", "pinned", knownvalue.MapExact(map[string]knownvalue.Check{"api": knownvalue.StringExact(f.reg.Host + "/team/api@" + release.String())})),
				},
			},
			{
				Config: cfg(fmt.Sprintf("api = %q, fork = %q", f.reg.Ref("team/api:1"), f.reg.Ref("team/api:fork"))),
				ExpectError: wrapped(`(?s)` + regexp.QuoteMeta(fork.String()) + `.*source_repository \(owner\) requires https://github.com/acme, found https://github.com/evil` +
					`.*source_repository requires https://github.com/acme/api, found https://github.com/evil/api`),
			},
		},
	})
}

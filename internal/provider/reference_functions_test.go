package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

const fnDigest = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// functionsConfig declares the provider (functions need it in
// required_providers) and adds body. No provider block: functions need no
// configuration and ask no registry.
func functionsConfig(body string) string {
	return `
terraform {
  required_providers {
    imageguard = { source = "hashicorp/imageguard" }
  }
}
` + body
}

func output(name string, v knownvalue.Check) statecheck.StateCheck {
	return statecheck.ExpectKnownOutputValue(name, v)
}

func TestAccFunctions_values(t *testing.T) {
	t.Parallel()
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: functionsConfig(fmt.Sprintf(`
locals { digest = %q }
output "hub"          { value = provider::imageguard::parse_reference("nginx") }
output "tag_digest"   { value = provider::imageguard::parse_reference("registry.example.com:5000/team/api:1.4@${local.digest}") }
output "pinned"       { value = provider::imageguard::is_pinned("registry.example.com/acme/api@${local.digest}") }
output "tagged"       { value = provider::imageguard::is_pinned("registry.example.com/acme/api:1.4") }
output "bad_digest"   { value = provider::imageguard::is_pinned("registry.example.com/acme/api@sha256:abc") }
output "malformed"    { value = provider::imageguard::is_pinned("registry.example.com/Acme/api@${local.digest}") }
output "with_digest"  { value = provider::imageguard::with_digest("bitnami/redis:7", local.digest) }
output "same_digest"  { value = provider::imageguard::with_digest("registry.example.com/acme/api:1.4@${local.digest}", local.digest) }
output "normalize"    { value = provider::imageguard::normalize("nginx") }
output "norm_digest"  { value = provider::imageguard::normalize("docker.io/acme/api@${local.digest}") }
`, fnDigest)),
			ConfigStateChecks: []statecheck.StateCheck{
				output("hub", knownvalue.ObjectExact(map[string]knownvalue.Check{
					"registry": knownvalue.StringExact(name.DefaultRegistry), "repository": knownvalue.StringExact("library/nginx"),
					"tag": knownvalue.Null(), "digest": knownvalue.Null(), "pinned": knownvalue.Bool(false),
				})),
				output("tag_digest", knownvalue.ObjectExact(map[string]knownvalue.Check{
					"registry": knownvalue.StringExact("registry.example.com:5000"), "repository": knownvalue.StringExact("team/api"),
					"tag": knownvalue.StringExact("1.4"), "digest": knownvalue.StringExact(fnDigest), "pinned": knownvalue.Bool(true),
				})),
				output("pinned", knownvalue.Bool(true)),
				output("tagged", knownvalue.Bool(false)),
				output("bad_digest", knownvalue.Bool(false)),
				output("malformed", knownvalue.Bool(false)),
				output("with_digest", knownvalue.StringExact(name.DefaultRegistry+"/bitnami/redis@"+fnDigest)),
				output("same_digest", knownvalue.StringExact("registry.example.com/acme/api@"+fnDigest)),
				output("normalize", knownvalue.StringExact(name.DefaultRegistry+"/library/nginx:latest")),
				output("norm_digest", knownvalue.StringExact(name.DefaultRegistry+"/acme/api@"+fnDigest)),
			},
		}},
	})
}

// pinnedOnlyModule is the docs' example: a module input that accepts only
// digest-pinned references.
func pinnedOnlyModule(image string) string {
	return functionsConfig(fmt.Sprintf(`
variable "image" {
  type    = string
  default = %q
  validation {
    condition     = provider::imageguard::is_pinned(var.image)
    error_message = "image must be pinned by digest (registry/repository@sha256:...), e.g. the pinned output of imageguard_pin."
  }
}
output "image" { value = provider::imageguard::normalize(var.image) }
`, image))
}

func TestAccFunctions_validation(t *testing.T) {
	t.Parallel()
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config:      pinnedOnlyModule("registry.example.com/team/api:1.4.2"),
				ExpectError: regexp.MustCompile(`image must be pinned by digest`),
			},
			{
				// A lookalike digest (63 hex characters) is not pinned either.
				Config:      pinnedOnlyModule("registry.example.com/team/api@" + fnDigest[:len(fnDigest)-1]),
				ExpectError: regexp.MustCompile(`image must be pinned by digest`),
			},
			{ // control: the pinned form passes
				Config: pinnedOnlyModule("registry.example.com/team/api@" + fnDigest),
				ConfigStateChecks: []statecheck.StateCheck{
					output("image", knownvalue.StringExact("registry.example.com/team/api@"+fnDigest)),
				},
			},
		},
	})
}

func TestAccFunctions_errors(t *testing.T) {
	t.Parallel()
	step := func(expr, want string) resource.TestStep {
		return resource.TestStep{
			Config:      functionsConfig(fmt.Sprintf("output \"x\" { value = %s }\n", expr)),
			ExpectError: regexp.MustCompile(want),
		}
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			step(`provider::imageguard::parse_reference("registry.example.com/Team/api:1")`, `(?s)"registry.example.com/Team/api:1".*is.*malformed`),
			step(`provider::imageguard::normalize("")`, `(?s)image reference is.*empty`),
			step(`provider::imageguard::with_digest("registry.example.com/acme/api:1.4", "sha256:abc")`, `(?s)The digest "sha256:abc" for.*registry.example.com/acme/api:1.4 is.*malformed`),
			step(fmt.Sprintf(`provider::imageguard::with_digest("registry.example.com/acme/api@%s", "sha256:%064d")`, fnDigest, 0), `(?s)already pins.*`+fnDigest),
		},
	})
}

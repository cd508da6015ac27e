# Deploy only what acme/api's release workflow built from main, on
# GitHub-hosted runners, within the last 30 days.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "image" {
  type    = string
  default = "ghcr.io/acme/api:1.4.2"
}

data "imageguard_verify" "api" {
  image = var.image

  provenance {
    source_repository        = "github.com/acme/api"
    signer_workflow          = "github.com/acme/api/.github/workflows/release.yml"
    source_ref               = "refs/heads/main"
    deny_self_hosted_runners = true
    max_age                  = "720h"
  }
}

# What built it, for tagging the deployment.
locals {
  built = data.imageguard_verify.api.provenance_facts[0]
}

output "deploy" {
  value = {
    image    = data.imageguard_verify.api.pinned
    commit   = local.built.commit
    ref      = local.built.ref
    workflow = local.built.workflow
    run      = local.built.invocation
  }
}

# The same requirement in a pin: a moved tag is approved only when its new
# digest was built by the release workflow too.
resource "imageguard_pin" "api" {
  ref = var.image

  verify {
    provenance {
      source_repository = "github.com/acme/api"
      signer_workflow   = "github.com/acme/api/.github/workflows/release.yml@refs/tags/v*"
      source_ref        = "refs/tags/v*"
    }
  }
}

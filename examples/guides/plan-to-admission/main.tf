# From plan to admission: the plan judges the image, apply publishes the
# verdict as signed attestations, and the cluster's admission controller
# requires them at deploy time. The key comes from the environment at apply
# (COSIGN_PRIVATE_KEY, COSIGN_PASSWORD), never from the configuration.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "image" {
  type        = string
  description = "Image to deploy, e.g. registry.example.com/team/api:1.4.2."
}

variable "public_key_pem" {
  type        = string
  description = "The cosign public key the admission policy trusts (cosign.pub)."
}

provider "imageguard" {}

# 1. Judge at plan: a tag becomes the digest that passed.
data "imageguard_scan" "api" {
  image              = var.image
  severity_threshold = "HIGH"
}

# 2. Publish the verdict for that digest: the cosign vulnerability predicate
#    and imageguard's verdict, signed and attached to the image. Every plan
#    judges the digest again; renew_after keeps the attestation younger than
#    the admission policy's 168h.
resource "imageguard_attestation" "api" {
  image = data.imageguard_scan.api.pinned

  scan {
    severity_threshold = "HIGH"
  }

  key {
    private_key_env = "COSIGN_PRIVATE_KEY"
  }

  renew_after = "72h"
}

# 3. Another module (or this one, on the next plan) can rely on the verdict
#    the way the admission controller does.
data "imageguard_verify" "api" {
  image = imageguard_attestation.api.image
  authority {
    name = "platform"
    key {
      public_key_pem = var.public_key_pem
    }
  }
  attestation {
    predicate_type = "vuln"
    max_age        = "168h"
    condition      = "predicate.scanner.result.Results.all(r, !('Vulnerabilities' in r) || r.Vulnerabilities.all(v, v.Severity != 'CRITICAL'))"
  }
}

# 4. Deploy exactly the digest that was attested.
output "image" {
  value = imageguard_attestation.api.id
}

output "attestations" {
  value = zipmap(imageguard_attestation.api.predicate_types, imageguard_attestation.api.attestation_digests)
}

# Used by bench/attest_interop.sh: imageguard_attestation signs each image
# in var.images with a cosign key (password from COSIGN_PASSWORD), offline
# (no Rekor); imageguard_verify checks each image in var.verify for a recent
# vulnerability attestation without CRITICAL findings and a passed verdict.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "db_repository" {
  type = string
}

variable "images" {
  type    = map(string)
  default = {}
}

variable "private_key_pem" {
  type      = string
  sensitive = true
  default   = ""
}

variable "verify" {
  type    = map(string)
  default = {}
}

variable "public_key_pem" {
  type    = string
  default = ""
}

provider "imageguard" {
  vulnerability_db {
    repositories = [var.db_repository]
  }
}

resource "imageguard_attestation" "img" {
  for_each = var.images

  image       = each.value
  tlog_upload = false
  key {
    private_key_pem = var.private_key_pem
  }
}

data "imageguard_verify" "img" {
  for_each = var.verify

  image = each.value
  tlog  = "optional"
  authority {
    name = "cosign-key"
    key {
      public_key_pem = var.public_key_pem
    }
  }
  attestation {
    predicate_type = "vuln"
    max_age        = "1h"
    condition      = "predicate.scanner.result.Results.all(r, !('Vulnerabilities' in r) || r.Vulnerabilities.all(v, v.Severity != 'CRITICAL'))"
  }
  attestation {
    predicate_type = "https://imageguard.dev/verdict/v1"
    condition      = "predicate.result == 'passed'"
  }
}

output "attestations" {
  value = { for k, a in imageguard_attestation.img : k => { digests = a.attestation_digests, location = a.location, verdict = a.verdict.result } }
}

# Used by bench/cosign_interop.sh: as ../signature, plus a required SLSA v1
# provenance attestation (made offline by `cosign attest --type
# slsaprovenance1 --tlog-upload=false`).
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "image" {
  type = string
}

variable "public_key_pem" {
  type = string
}

provider "imageguard" {}

data "imageguard_verify" "app" {
  image = var.image
  tlog  = "optional"

  authority {
    name = "cosign-key"
    key {
      public_key_pem = var.public_key_pem
    }
  }

  attestation {
    predicate_type = "slsaprovenance1"
  }
}

output "passed" {
  value = data.imageguard_verify.app.passed
}

output "pinned" {
  value = data.imageguard_verify.app.pinned
}

output "signatures" {
  value = [for s in data.imageguard_verify.app.signatures : { format = s.format, location = s.location, key_id = s.key_id, tlog_index = s.tlog_index }]
}

output "attestations" {
  value = data.imageguard_verify.app.attestations
}

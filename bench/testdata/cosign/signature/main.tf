# Used by bench/cosign_interop.sh: one imageguard_verify data source with a
# cosign key authority and no transparency log (signatures made offline by
# the cosign CLI with --tlog-upload=false). `terraform plan` evaluates it;
# the outputs show what verified and where it was found.
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

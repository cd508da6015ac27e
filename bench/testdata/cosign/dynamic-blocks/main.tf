# Used by bench/cosign_interop.sh: the same verification with the authority
# and attestation blocks written as `dynamic` blocks over variables, as
# modules do. `terraform validate` must accept it (during validation the
# variables, and so the dynamic blocks, are unknown).
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "image" {
  type    = string
  default = "127.0.0.1:5000/team/app:1"
}

variable "public_keys" {
  type    = map(string)
  default = {}
}

variable "attestation_types" {
  type    = list(string)
  default = []
}

provider "imageguard" {}

data "imageguard_verify" "app" {
  image = var.image
  tlog  = "optional"

  dynamic "authority" {
    for_each = var.public_keys
    content {
      name = authority.key
      key {
        public_key_pem = authority.value
      }
    }
  }

  dynamic "attestation" {
    for_each = var.attestation_types
    content {
      predicate_type = attestation.value
    }
  }
}

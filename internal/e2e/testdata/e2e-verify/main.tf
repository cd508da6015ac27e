# Used by the end-to-end verification test: a cosign v3 bundle signature on
# a registry without the referrers API (Debian's docker-registry 2.8).
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

variable "trusted_root_json" {
  type = string
}

provider "imageguard" {}

data "imageguard_verify" "app" {
  image             = var.image
  trusted_root_json = var.trusted_root_json

  authority {
    name = "release"
    key {
      public_key_pem = var.public_key_pem
    }
  }
}

output "pinned" {
  value = data.imageguard_verify.app.pinned
}

output "location" {
  value = data.imageguard_verify.app.signatures[0].location
}

# Terraform >= 1.10 (OpenTofu >= 1.11): an ephemeral variable is kept out of
# the state and out of a saved plan file; it must be given again to apply a
# saved plan. Provider configuration may use ephemeral values.
terraform {
  required_version = ">= 1.10"
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "registry_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "imageguard" {
  registry {
    address  = "registry.example.com"
    username = "ci-reader"
    password = var.registry_password
  }
}

data "imageguard_image" "api" {
  ref = "registry.example.com/team/api:1.4.2"
}

output "api" {
  value = data.imageguard_image.api.pinned
}

# Used by the end-to-end credential test: the registry password as an
# ephemeral input variable (Terraform >= 1.10, OpenTofu >= 1.11), which
# Terraform keeps out of state and out of a saved plan file. Provider
# configuration may reference ephemeral values.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "image" {
  type        = string
  description = "Image reference to pin."
}

variable "registry" {
  type        = string
  description = "host:port of the registry that needs the password."
}

variable "username" {
  type = string
}

variable "password" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "imageguard" {
  registry {
    address  = var.registry
    username = var.username
    password = var.password
  }
}

data "imageguard_image" "app" {
  ref = var.image
}

output "pinned" {
  value = data.imageguard_image.app.pinned
}

# Used by the end-to-end token test: the built provider and the real
# terraform binary against an in-process registry that requires a bearer
# token, given only through TF_VAR_token.
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
  description = "host:port of the registry that needs the token."
}

variable "token" {
  type      = string
  sensitive = true
}

provider "imageguard" {
  registry {
    address = var.registry
    token   = var.token
  }
}

data "imageguard_image" "app" {
  ref = var.image
}

output "pinned" {
  value = data.imageguard_image.app.pinned
}

# Used by the end-to-end test: the built provider, the real terraform binary
# and a real registry (Debian's docker-registry) on loopback.
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
  type    = string
  default = ""
}

variable "username" {
  type    = string
  default = ""
}

variable "password" {
  type      = string
  sensitive = true
  default   = ""
}

provider "imageguard" {
  dynamic "registry" {
    for_each = var.registry == "" ? [] : [var.registry]
    content {
      address  = registry.value
      username = var.username
      password = var.password
    }
  }
}

data "imageguard_image" "app" {
  ref = var.image
}

output "pinned" {
  value = data.imageguard_image.app.pinned
}

output "user" {
  value = data.imageguard_image.app.user
}

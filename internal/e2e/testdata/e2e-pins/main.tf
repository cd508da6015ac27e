# Used by the end-to-end pin test and its benchmark: many pins, one plan.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "images" {
  type        = list(string)
  description = "Tags to pin."
}

variable "db_repository" {
  type = string
}

variable "cache_dir" {
  type = string
}

provider "imageguard" {
  vulnerability_db {
    repositories = [var.db_repository]
    cache_dir    = var.cache_dir
  }
}

resource "imageguard_pin" "app" {
  for_each = toset(var.images)
  ref      = each.value
}

output "pinned" {
  value = join(",", sort([for p in imageguard_pin.app : p.pinned]))
}

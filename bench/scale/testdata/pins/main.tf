# bench/scale.sh: the floor a policy plan is compared with, pinning the same
# references and judging nothing.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "images" {
  type = map(string)
}

variable "cache_dir" {
  type = string
}

variable "db_repository" {
  type = string
}

provider "imageguard" {
  vulnerability_db {
    repositories = [var.db_repository]
    cache_dir    = var.cache_dir
  }
}

data "imageguard_image" "x" {
  for_each = var.images
  ref      = each.value
}

output "pinned" {
  value = length([for k, i in data.imageguard_image.x : i.pinned])
}

# bench/scale.sh: one imageguard_policy with a scan block over the fleet.
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

data "imageguard_policy" "fleet" {
  images      = var.images
  enforcement = "warn"
  scan {
    severity_threshold = "CRITICAL"
  }
}

output "pinned" {
  value = length(data.imageguard_policy.fleet.pinned)
}

output "findings" {
  value = sum([for r in data.imageguard_policy.fleet.results : sum(values(r.counts))])
}

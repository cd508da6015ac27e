# Used by bench/fleet.sh and bench/server_parity.sh (bench/fleet and
# bench/serverparity): one worker's plan over many images, in local mode (a
# database repository) or in server mode (a `trivy server`), with every
# finding in the outputs.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "images" {
  type        = map(string)
  description = "Images to scan, by a key used in the outputs."
}

variable "cache_dir" {
  type = string
}

variable "db_repository" {
  type        = string
  default     = null
  description = "Local mode: the Trivy DB repository."
}

variable "scanner_url" {
  type        = string
  default     = null
  description = "Server mode: the trivy server's URL."
}

variable "scanner_token" {
  type      = string
  default   = null
  sensitive = true
}

variable "fleet_cache_key" {
  type        = string
  default     = null
  sensitive   = true
  description = "Server mode: the workers share layer analyses (one trust domain)."
}

provider "imageguard" {
  dynamic "scanner_server" {
    for_each = var.scanner_url == null ? [] : [var.scanner_url]
    content {
      url   = scanner_server.value
      token = var.scanner_token
      # null: each worker reuses only its own analyses
      fleet_cache_key = var.fleet_cache_key
    }
  }
  vulnerability_db {
    repositories = var.db_repository == null ? null : [var.db_repository]
    cache_dir    = var.cache_dir
  }
}

data "imageguard_scan" "x" {
  for_each    = var.images
  image       = each.value
  enforcement = "warn"
}

# The vulnerability ids per image (every platform), sorted and distinct.
output "ids" {
  value = { for k, s in data.imageguard_scan.x : k => sort(distinct([for f in s.findings : f.id])) }
}

# platform | id | package | installed version, per image.
output "findings" {
  value = { for k, s in data.imageguard_scan.x : k => sort([for f in s.findings : "${f.platform}|${f.id}|${f.package}|${f.installed_version}"]) }
}

# platform | rule | target, per image.
output "secrets" {
  value = { for k, s in data.imageguard_scan.x : k => sort([for x in s.secrets : "${x.platform}|${x.rule_id}|${x.target}"]) }
}

# The platforms scanned, per image.
output "platforms" {
  value = { for k, s in data.imageguard_scan.x : k => sort(distinct([for t in s.targets : t.platform])) }
}

output "digests" {
  value = { for k, s in data.imageguard_scan.x : k => s.digest }
}

output "db" {
  value = { for k, s in data.imageguard_scan.x : k => s.db.updated_at }
}

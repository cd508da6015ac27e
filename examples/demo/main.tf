# `make demo` runs this against a registry it starts on loopback, with a demo
# vulnerability database published there as Trivy publishes its own.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "registry" {
  type        = string
  description = "host:port of the demo registry."
}

variable "cache_dir" {
  type        = string
  description = "Where the provider keeps the database and its caches."
}

variable "trust_dir" {
  type        = string
  description = "Directory with the demo signing key (cosign.pub) and Sigstore trusted root."
}

variable "include_failing" {
  type        = bool
  default     = false
  description = "Also scan an image with known vulnerabilities, which fails the plan."
}

provider "imageguard" {
  vulnerability_db {
    repositories = ["${var.registry}/aquasecurity/trivy-db:2"]
    cache_dir    = var.cache_dir
  }
}

# A single-platform image: the tag is resolved to the digest served now.
data "imageguard_image" "api" {
  ref = "${var.registry}/demo/api:1.0"
}

# A multi-platform index: the pinned reference names the index; the facts
# describe the platform asked for.
data "imageguard_image" "web_arm64" {
  ref      = "${var.registry}/demo/web:2.3"
  platform = "linux/arm64"
}

# A patched image passes the scan gate and hands out its pinned reference.
data "imageguard_scan" "payments" {
  image              = "${var.registry}/demo/payments:2.0"
  severity_threshold = "HIGH"
}

# The patched image is signed (a cosign v3 bundle): the signature gate passes.
data "imageguard_verify" "payments" {
  image             = "${var.registry}/demo/payments:2.0"
  trusted_root_json = file("${var.trust_dir}/trusted_root.json")
  authority {
    name = "release"
    key {
      public_key_pem = file("${var.trust_dir}/cosign.pub")
    }
  }
}

# One policy over several images; each unique digest is judged once.
data "imageguard_policy" "platform" {
  images = {
    api      = "${var.registry}/demo/api:1.0"
    payments = "${var.registry}/demo/payments:2.0"
  }
  trusted_registries = ["${var.registry}/demo"]
  require_non_root   = true
  forbidden_ports    = ["22"]
  scan {
    severity_threshold = "HIGH"
  }
}

# An image with a HIGH musl vulnerability and a vulnerable lodash: the plan
# fails with the findings, before anything is provisioned.
data "imageguard_scan" "legacy" {
  count = var.include_failing ? 1 : 0
  image = "${var.registry}/demo/legacy:0.9"
}

# ... and it is not signed: the signature gate fails too, saying where it looked.
data "imageguard_verify" "legacy" {
  count             = var.include_failing ? 1 : 0
  image             = "${var.registry}/demo/legacy:0.9"
  trusted_root_json = file("${var.trust_dir}/trusted_root.json")
  authority {
    name = "release"
    key {
      public_key_pem = file("${var.trust_dir}/cosign.pub")
    }
  }
}

output "api_pinned" {
  value = data.imageguard_image.api.pinned
}

output "web_pinned" {
  value = data.imageguard_image.web_arm64.pinned
}

output "web_platforms" {
  value = [for p in data.imageguard_image.web_arm64.platforms : "${p.platform} ${p.digest}"]
}

output "payments_pinned" {
  value = data.imageguard_scan.payments.pinned
}

output "payments_signed_by" {
  value = [for s in data.imageguard_verify.payments.signatures : "${s.authority} (${s.format}, ${s.location})"]
}

output "policy_pinned" {
  value = data.imageguard_policy.platform.pinned
}

output "payments_findings" {
  value = data.imageguard_scan.payments.counts
}

# `make demo` runs this against a registry it starts on loopback.
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

provider "imageguard" {}

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

output "api_pinned" {
  value = data.imageguard_image.api.pinned
}

output "web_pinned" {
  value = data.imageguard_image.web_arm64.pinned
}

output "web_platforms" {
  value = [for p in data.imageguard_image.web_arm64.platforms : "${p.platform} ${p.digest}"]
}

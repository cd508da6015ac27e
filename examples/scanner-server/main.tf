# Scan through a shared `trivy server`: workers carry no database. Each
# worker reuses the layer analyses it stored on the server; with
# fleet_cache_key, the workers that hold it reuse each other's.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "trivy_token" {
  type      = string
  sensitive = true
}

provider "imageguard" {
  scanner_server {
    url   = "https://trivy.internal.example.com:4954"
    token = var.trivy_token # sent in the Trivy-Token header, as Trivy's client does
    # ca_cert_pem = file("internal-ca.pem")

    # Opt-in: share layer analyses with every worker that holds this key.
    # Whoever holds it (and the token) can make those workers pass an image:
    # one key, and one server, per trust domain.
    # fleet_cache_key = var.fleet_cache_key
  }
  vulnerability_db {
    max_age = "48h" # applies to the server's database
  }
}

data "imageguard_scan" "api" {
  image              = "registry.example.com/team/api:1.4.2"
  severity_threshold = "HIGH"
}

output "api_image" {
  value = data.imageguard_scan.api.pinned
}

# Scan through a shared `trivy server`: workers carry no database and the
# server's cache remembers every layer any worker analysed.
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

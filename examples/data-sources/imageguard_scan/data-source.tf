provider "imageguard" {
  vulnerability_db {
    # A mirror of ghcr.io/aquasecurity/trivy-db:2 (e.g. copied with `oras cp`).
    repositories = ["mirror.example.com/aquasec/trivy-db:2"]
    max_age      = "72h" # an older database fails the plan
  }
}

data "imageguard_scan" "api" {
  image              = "registry.example.com/team/api:1.4.2"
  severity_threshold = "HIGH"
  ignore_unfixed     = true

  ignore {
    id      = "CVE-2023-5363"
    reason  = "no TLS server in this image"
    expires = "2027-01-31"
  }

  # OpenVEX / CycloneDX VEX statements from the image's publisher.
  vex = [file("${path.module}/api.openvex.json")]
}

# Deploy only what passed: `pinned` is null when the gate failed.
output "api_image" {
  value = data.imageguard_scan.api.pinned
}

# Audit mode: report without failing the plan.
data "imageguard_scan" "legacy" {
  image       = "registry.example.com/team/legacy:3"
  enforcement = "warn"
}

output "legacy_counts" {
  value = data.imageguard_scan.legacy.counts # { CRITICAL = 1, HIGH = 4, ... }
}

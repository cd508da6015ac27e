# A plan gate for CI runners and HCP Terraform / Terraform Cloud agents. No
# cache_dir: the database and Trivy's layer cache go to $IMAGEGUARD_CACHE_DIR,
# which the CI cache keeps between runs. On agents whose image carries the
# database, set db_baked_in = true and nothing is downloaded.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "image" {
  type        = string
  description = "Image to gate, e.g. registry.example.com/team/api:1.4.2."
}

variable "trivy_db_repositories" {
  type        = list(string)
  default     = null # Trivy's public database
  description = "Mirrors of the Trivy database, e.g. [\"registry.example.com/aquasec/trivy-db:2\"]."
}

variable "db_baked_in" {
  type        = bool
  default     = false
  description = "The agent image carries the database in $IMAGEGUARD_CACHE_DIR: never download it."
}

provider "imageguard" {
  vulnerability_db {
    repositories = var.trivy_db_repositories
    max_age      = "72h" # an older database fails the plan, baked in or not
    skip_update  = var.db_baked_in
  }
}

data "imageguard_scan" "app" {
  image              = var.image
  severity_threshold = "HIGH"
  ignore_unfixed     = true
}

output "pinned" {
  value = data.imageguard_scan.app.pinned
}

output "db_updated_at" {
  value = data.imageguard_scan.app.db.updated_at
}

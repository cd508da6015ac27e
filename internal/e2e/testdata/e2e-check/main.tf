# Used by TestCheckAction*: a saved plan judged at plan time by
# imageguard_scan, and the same digest judged again by imageguard_check when
# the apply runs (Terraform >= 1.14).
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "image" {
  type = string
  validation {
    condition     = provider::imageguard::is_pinned(var.image)
    error_message = "image must be pinned by digest."
  }
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

data "imageguard_scan" "api" {
  image              = var.image
  severity_threshold = "HIGH"
}

action "imageguard_check" "api" {
  config {
    ref = var.image
    scan {
      severity_threshold = "HIGH"
    }
  }
}

resource "terraform_data" "service" {
  input = data.imageguard_scan.api.pinned
  lifecycle {
    action_trigger {
      events  = [before_create, before_update]
      actions = [action.imageguard_check.api]
    }
  }
}

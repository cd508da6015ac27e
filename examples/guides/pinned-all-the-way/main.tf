# Pinned all the way, for one service: the module accepts only digest-pinned
# images (validation with a provider function), judges the image again when
# the apply runs (action "imageguard_check", Terraform >= 1.14), and a
# scheduled plan rescans the last releases in the registry (imageguard_tags).
terraform {
  required_version = ">= 1.14"
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

provider "imageguard" {}

variable "image" {
  type        = string
  description = "Image to run, pinned by digest, e.g. imageguard_pin.api.pinned of the release stack."

  # 1. Validation: a tag can name another image by apply time; only a
  #    digest names what was judged.
  validation {
    condition     = provider::imageguard::is_pinned(var.image)
    error_message = "image must be pinned by digest (registry/repository@sha256:<64 hex>), e.g. imageguard_pin.api.pinned."
  }
}

locals {
  repository = join("/", [
    provider::imageguard::parse_reference(var.image).registry,
    provider::imageguard::parse_reference(var.image).repository,
  ])
}

# 2. The apply-time check: the pin's settings, judged on the digest when the
#    apply runs (a saved plan may be applied hours later on another worker).
#    `terraform apply -invoke=action.imageguard_check.api` runs it alone.
action "imageguard_check" "api" {
  config {
    ref = var.image
    scan {
      severity_threshold = "HIGH"
    }
    policy {
      require_non_root = true
    }
  }
}

# An ECS-like service. terraform_data stands in for aws_ecs_service,
# google_cloud_run_v2_service or kubernetes_deployment: the lifecycle block
# is the same on those.
resource "terraform_data" "api_service" {
  input = {
    family = "api"
    containers = [{
      name  = "api"
      image = var.image
    }]
  }

  lifecycle {
    action_trigger {
      events  = [before_create, before_update]
      actions = [action.imageguard_check.api]
    }
  }
}

# 3. The registry rescan: the last five releases of the repository still
#    pass. Run `terraform plan` on a schedule: a failing plan names the tag,
#    the digest and each finding.
data "imageguard_tags" "releases" {
  repository = local.repository
  filter     = "v?[0-9]+\\.[0-9]+\\.[0-9]+"
  limit      = 5
}

data "imageguard_policy" "releases" {
  images = data.imageguard_tags.releases.references
  scan {
    severity_threshold = "HIGH"
  }
  require_non_root = true
}

output "releases_pinned" {
  value = data.imageguard_policy.releases.pinned
}

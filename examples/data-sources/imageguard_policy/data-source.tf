# modules/image-policy/main.tf — owned by the security team.
variable "images" {
  type        = map(string)
  description = "Name → image reference."
}

data "imageguard_policy" "this" {
  images = var.images

  trusted_registries  = ["registry.example.com/", "*.dkr.ecr.eu-west-1.amazonaws.com/**"]
  require_non_root    = true
  required_labels     = { "org.opencontainers.image.source" = "^https://github\\.com/acme/" }
  forbidden_ports     = ["22"]
  forbidden_packages  = ["apk-tools", "apt", "dpkg", "bash", "netcat-openbsd", "openssh-server"]
  forbidden_paths     = ["/bin/sh", "/usr/bin/nc"]
  max_image_age       = "2160h" # 90 days
  allowed_base_images = ["cgr.dev/chainguard/", "gcr.io/distroless/"]
  secrets_in_config   = true

  scan {
    severity_threshold = "HIGH"
    ignore_unfixed     = true
  }

  verify {
    authority {
      name = "release"
      keyless {
        issuer         = "https://token.actions.githubusercontent.com"
        subject_regexp = "^https://github\\.com/acme/.*"
      }
    }
  }

  exception {
    rule    = "forbidden_ports"
    finding = "22"
    image   = "bastion"
    reason  = "SSH bastion by design"
    expires = "2027-03-31"
    owner   = "platform-team"
  }
}

output "pinned" {
  value = data.imageguard_policy.this.pinned # only images that passed
}

output "report_sarif" {
  value = data.imageguard_policy.this.report_sarif # upload to GitHub code scanning
}

# An application module calls it:
#
# module "image_policy" {
#   source = "git::https://git.example.com/security/image-policy.git"
#   images = {
#     api    = "registry.example.com/team/api:1.4.2"
#     worker = "registry.example.com/team/worker:2.0"
#   }
# }
#
# resource "kubernetes_deployment" "api" {
#   # image = module.image_policy.pinned["api"]
# }

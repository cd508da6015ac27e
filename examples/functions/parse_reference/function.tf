variable "image" {
  type = string

  # Only images from the company registry, pinned by digest.
  validation {
    condition = (
      provider::imageguard::parse_reference(var.image).registry == "registry.example.com" &&
      provider::imageguard::parse_reference(var.image).pinned
    )
    error_message = "image must come from registry.example.com and be pinned by digest (registry.example.com/<repository>@sha256:...)."
  }
}

locals {
  parts = provider::imageguard::parse_reference("registry.example.com:5000/team/api:1.4.2")
  # {
  #   registry   = "registry.example.com:5000"
  #   repository = "team/api"
  #   tag        = "1.4.2"
  #   digest     = null
  #   pinned     = false
  # }

  hub = provider::imageguard::parse_reference("nginx")
  # { registry = "index.docker.io", repository = "library/nginx", tag = null, digest = null, pinned = false }
}

# A module that deploys only what a gate judged: its input must be pinned by
# digest (e.g. the `pinned` output of imageguard_pin), never a tag.
variable "image" {
  type        = string
  description = "Image to deploy, pinned by digest: registry/repository@sha256:..."

  validation {
    condition     = provider::imageguard::is_pinned(var.image)
    error_message = "image must be pinned by digest (registry/repository@sha256:<64 hex>), e.g. imageguard_pin.api.pinned; a tag can move after the plan."
  }
}

# is_pinned("registry.example.com/team/api:1.4.2")           → false
# is_pinned("registry.example.com/team/api@sha256:9f86d0…")  → true
# is_pinned("registry.example.com/team/api@sha256:abc")      → false (malformed digest)

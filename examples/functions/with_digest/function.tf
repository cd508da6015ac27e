variable "digest" {
  type        = string
  description = "The digest a release pipeline approved, e.g. sha256:9f86d0…"
}

locals {
  # "registry.example.com/team/api@sha256:…": the tag is dropped, the digest
  # checked for shape (a malformed digest is an error, not a reference).
  api = provider::imageguard::with_digest("registry.example.com/team/api:1.4.2", var.digest)
}

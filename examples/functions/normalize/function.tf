variable "allowed_images" {
  type    = set(string)
  default = ["nginx:1.27", "registry.example.com/team/api"]
}

variable "image" {
  type = string

  # "docker.io/library/nginx:1.27", "nginx:1.27" and
  # "index.docker.io/library/nginx:1.27" name the same image.
  validation {
    condition = contains(
      [for i in var.allowed_images : provider::imageguard::normalize(i)],
      provider::imageguard::normalize(var.image)
    )
    error_message = "image is not in allowed_images."
  }
}

# normalize("nginx")                          → "index.docker.io/library/nginx:latest"
# normalize("docker.io/bitnami/redis:7")      → "index.docker.io/bitnami/redis:7"
# normalize("ghcr.io/acme/api@sha256:9f86d0…") → "ghcr.io/acme/api@sha256:9f86d0…"

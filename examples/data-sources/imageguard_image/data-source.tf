# Pin a tag to the digest the registry serves now.
data "imageguard_image" "api" {
  ref = "registry.example.com/team/api:1.4.2"
}

# Describe the arm64 image of a multi-platform index.
data "imageguard_image" "api_arm64" {
  ref      = "registry.example.com/team/api:1.4.2"
  platform = "linux/arm64"
}

output "api_pinned" {
  # e.g. registry.example.com/team/api@sha256:…
  value = data.imageguard_image.api.pinned
}

output "api_runs_as" {
  value = data.imageguard_image.api.user
}

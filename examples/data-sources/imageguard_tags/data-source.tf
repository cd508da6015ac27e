# The last five release tags of a service, each resolved to the digest it
# names now.
data "imageguard_tags" "api" {
  repository = "registry.example.com/team/api"
  filter     = "v?[0-9]+\\.[0-9]+\\.[0-9]+" # releases only, not latest or main-3f2a
  order      = "semver"                      # newest first: 1.10.0 above 1.9.3
  limit      = 5
}

# A scheduled rescan: the plan fails when one of them no longer passes.
data "imageguard_policy" "api_releases" {
  images = data.imageguard_tags.api.references # { "1.4.2" = "registry.example.com/team/api@sha256:…", … }
  scan {
    severity_threshold = "HIGH"
  }
  require_non_root = true
}

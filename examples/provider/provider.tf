# With no arguments, credentials come from the docker config
# (DOCKER_CONFIG or ~/.docker/config.json) and its credential helpers.
provider "imageguard" {}

# Explicit credentials for a private registry, and a private CA.
provider "imageguard" {
  alias   = "private"
  timeout = "10m"

  registry {
    address  = "registry.example.com"
    username = var.registry_username
    password = var.registry_password # sensitive: never in state or logs
  }

  registry {
    address     = "harbor.internal.example.com"
    token       = var.harbor_token
    ca_cert_pem = file("${path.module}/internal-ca.pem")
  }
}

variable "registry_username" {
  type = string
}

variable "registry_password" {
  type      = string
  sensitive = true
}

variable "harbor_token" {
  type      = string
  sensitive = true
}

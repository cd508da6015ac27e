# One registry block per private registry; every secret comes in through a
# sensitive variable (TF_VAR_..., a CI secret, or an HCP Terraform sensitive
# variable) or, as the guide shows, from a cloud provider's data source or
# ephemeral resource. Registries without a block use the docker config.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "ecr_password" {
  type      = string
  sensitive = true # aws ecr get-login-password
}

variable "gcp_access_token" {
  type      = string
  sensitive = true # gcloud auth print-access-token
}

variable "acr_refresh_token" {
  type      = string
  sensitive = true # az acr login --name example --expose-token --query accessToken -o tsv
}

variable "github_actor" {
  type = string # the GitHub user; github.actor in Actions
}

variable "ghcr_token" {
  type      = string
  sensitive = true # GITHUB_TOKEN with packages: read, or a classic PAT with read:packages
}

variable "harbor_robot_secret" {
  type      = string
  sensitive = true
}

provider "imageguard" {
  registry {
    address  = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    username = "AWS"
    password = var.ecr_password
  }
  registry {
    address  = "europe-west1-docker.pkg.dev" # Artifact Registry; gcr.io works the same
    username = "oauth2accesstoken"
    password = var.gcp_access_token
  }
  registry {
    address  = "example.azurecr.io"
    username = "00000000-0000-0000-0000-000000000000" # an Entra-issued ACR refresh token follows
    password = var.acr_refresh_token
  }
  registry {
    address  = "ghcr.io"
    username = var.github_actor
    password = var.ghcr_token
  }
  registry {
    address  = "harbor.example.com"
    username = "robot$platform+imageguard" # project robot account: robot$<project>+<name>
    password = var.harbor_robot_secret
  }
}

data "imageguard_image" "api" {
  ref = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api:1.4.2"
}

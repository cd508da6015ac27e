# Notary Project signatures at plan time: an image signed with `notation
# sign` (a certificate from Azure Key Vault, or from your own CA) is deployed
# only when a signature from a pinned signer verifies for its digest. During
# a move from cosign to Notation either signature is accepted.
terraform {
  required_providers {
    imageguard = {
      source = "imageguard/imageguard"
    }
  }
}

variable "acr_refresh_token" {
  type      = string
  sensitive = true # az acr login --name example --expose-token --query accessToken -o tsv
}

variable "signing_ca_pem" {
  type        = string
  description = "The CA that issues the release signing certificates (PEM), e.g. file(\"acme-signing-ca.pem\")."
}

variable "tsa_root_pem" {
  type        = string
  description = "The root of the RFC 3161 timestamp authority notation sign --timestamp-url uses (PEM)."
}

variable "cosign_public_key_pem" {
  type        = string
  description = "cosign.pub of the release pipeline that signed before the move."
}

provider "imageguard" {
  registry {
    address  = "example.azurecr.io"
    username = "00000000-0000-0000-0000-000000000000" # ACR's fixed user name for refresh tokens
    password = var.acr_refresh_token
  }
}

# Only Notation: the release certificate's subject is pinned, timestamps
# make signatures outlive their certificate, and revocation is checked
# online (a plan without network access to the CA's OCSP/CRL servers needs
# revocation = "log" or "skip").
data "imageguard_verify" "api" {
  image = "example.azurecr.io/team/api:1.4.2"

  authority {
    name = "release"
    notation {
      certificates_pem     = var.signing_ca_pem
      trust_store_type     = "ca"
      trusted_identities   = ["x509.subject: C=US, ST=WA, O=acme, CN=release"]
      tsa_certificates_pem = var.tsa_root_pem
      revocation           = "enforce"
    }
  }
}

# The migration: cosign or Notation, whichever signed this release.
data "imageguard_verify" "worker" {
  image   = "example.azurecr.io/team/worker:2.0.1"
  require = "any"
  tlog    = "optional" # the cosign key signed without a transparency log

  authority {
    name = "cosign-release"
    key {
      public_key_pem = var.cosign_public_key_pem
    }
  }

  authority {
    name = "notation-release"
    notation {
      certificates_pem   = var.signing_ca_pem
      trusted_identities = ["x509.subject: C=US, ST=WA, O=acme, CN=release"]
      revocation         = "log"
    }
  }
}

output "api_image" {
  value = data.imageguard_verify.api.pinned # only set when the signature verified
}

output "api_signers" {
  value = [for s in data.imageguard_verify.api.notation_signatures : "${s.subject} (${s.format}, timestamped by ${coalesce(s.timestamp_authority, "nobody")})"]
}

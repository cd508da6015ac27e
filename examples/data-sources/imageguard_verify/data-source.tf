# Keyless: signed by the release workflow of acme/api in GitHub Actions
# (`cosign sign` with the workflow's OIDC identity), with SLSA provenance.
data "imageguard_verify" "api" {
  image = "registry.example.com/team/api:1.4.2"

  authority {
    name = "release"
    keyless {
      issuer                     = "https://token.actions.githubusercontent.com"
      subject_regexp             = "^https://github\\.com/acme/api/\\.github/workflows/release\\.yml@refs/tags/v.*"
      github_workflow_repository = "acme/api"
      github_workflow_trigger    = "push"
    }
  }

  attestation {
    predicate_type = "slsaprovenance1"
    condition      = "predicate.buildDefinition.externalParameters.workflow.repository == \"https://github.com/acme/api\""
  }
}

# Key: a public key (cosign.pub) or a KMS key such as a Vault transit key.
data "imageguard_verify" "worker" {
  image = "registry.example.com/team/worker:2.0"

  authority {
    name = "ci-key"
    key {
      public_key_pem = file("${path.module}/cosign.pub")
    }
  }
  authority {
    name = "vault"
    key {
      kms = "hashivault://image-signing" # VAULT_ADDR / VAULT_TOKEN from the environment
    }
  }
  require = "any"

  # A private Sigstore, or air-gapped use: its trusted root instead of TUF.
  # trusted_root_json = file("${path.module}/trusted_root.json")
}

output "api_image" {
  value = data.imageguard_verify.api.pinned # null unless verified
}

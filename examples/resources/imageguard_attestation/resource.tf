# Judge the image the deployment uses and publish the verdict for the
# cluster's admission controller: a vulnerability attestation and
# imageguard's verdict, signed with the team's cosign key.
data "imageguard_scan" "api" {
  image = "registry.example.com/team/api:1.4.2"
}

resource "imageguard_attestation" "api" {
  image = data.imageguard_scan.api.pinned # registry.example.com/team/api@sha256:…

  scan {
    severity_threshold = "HIGH"
    ignore {
      id      = "CVE-2023-5363"
      reason  = "no TLS server in this image"
      expires = "2027-01-31"
    }
  }

  key {
    private_key_env = "COSIGN_PRIVATE_KEY" # the PEM, e.g. from the CI secret store; COSIGN_PASSWORD decrypts it
  }

  renew_after = "72h" # the admission policy below accepts attestations up to 168h old
}

# Or sign with a KMS key …
resource "imageguard_attestation" "worker" {
  image = "registry.example.com/team/worker@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  kms {
    uri = "awskms:///alias/image-attestations"
  }
}

# … or keyless, with the CI job's OIDC identity (GitHub Actions: request an
# ID token with audience "sigstore" into SIGSTORE_ID_TOKEN).
resource "imageguard_attestation" "web" {
  image = "registry.example.com/team/web@sha256:89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"
  keyless {
    oidc_token_env = "SIGSTORE_ID_TOKEN"
  }
}

# Another module can rely on the verdict.
data "imageguard_verify" "api" {
  image = imageguard_attestation.api.image
  authority {
    name = "platform"
    key {
      public_key_pem = file("cosign.pub")
    }
  }
  attestation {
    predicate_type = "vuln"
    max_age        = "168h"
    condition      = "predicate.scanner.result.Results.all(r, !('Vulnerabilities' in r) || r.Vulnerabilities.all(v, v.Severity != 'CRITICAL'))"
  }
}

# Adopt an image's existing imageguard attestations.
import {
  to = imageguard_attestation.api
  id = "registry.example.com/team/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
}

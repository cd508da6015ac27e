# Follow a tag, keep the approved digest, deploy only that.
resource "imageguard_pin" "api" {
  ref         = "registry.example.com/team/api:1.4"
  on_tag_move = "update" # the plan proposes a moved tag's new digest after judging it

  scan {
    severity_threshold = "HIGH"
    ignore_unfixed     = true
  }
}

resource "kubernetes_deployment" "api" {
  # ...
  #   image = imageguard_pin.api.pinned   # registry.example.com/team/api@sha256:…
}

# Adopt a digest that is already deployed; the next plan judges it.
import {
  to = imageguard_pin.api
  id = "registry.example.com/team/api:1.4@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
}

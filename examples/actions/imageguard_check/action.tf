# Terraform >= 1.14. Judge the image again when the apply runs, with the same
# settings as the pin that approved it.
resource "imageguard_pin" "api" {
  ref = "registry.example.com/team/api:1.4.2"
  scan {
    severity_threshold = "HIGH"
  }
}

action "imageguard_check" "api" {
  config {
    ref = imageguard_pin.api.pinned
    scan {
      severity_threshold = "HIGH"
    }
  }
}

# Halts the apply when the image stopped passing between plan and apply.
resource "aws_ecs_task_definition" "api" {
  family = "api"
  container_definitions = jsonencode([{
    name  = "api"
    image = imageguard_pin.api.pinned
  }])

  lifecycle {
    action_trigger {
      events  = [before_create, before_update]
      actions = [action.imageguard_check.api]
    }
  }
}

# Day-2 rescan of what is deployed, without changing anything:
#   terraform apply -invoke=action.imageguard_check.api

# EventBridge Scheduler: one schedule per scheduled pipeline, starting its state machine.

locals {
  scheduled = {
    for pipeline, expression in var.schedules : pipeline => expression
    if !contains(["", "off", "none", "disabled"], lower(trimspace(expression)))
  }
}

resource "aws_scheduler_schedule_group" "this" {
  name = "strata-${var.env}"
}

resource "aws_scheduler_schedule" "pipeline" {
  for_each = local.scheduled

  name                         = "strata-${var.env}-${each.key}"
  group_name                   = aws_scheduler_schedule_group.this.name
  description                  = "strata ${var.env}: start ${each.key}"
  schedule_expression          = each.value
  schedule_expression_timezone = var.timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = var.state_machine_arns[each.key]
    role_arn = var.role_arn
    input    = var.execution_input

    # Retry a failed StartExecution briefly; a missed start is picked up by the next fire.
    retry_policy {
      maximum_event_age_in_seconds = 240
      maximum_retry_attempts       = 2
    }
  }

  lifecycle {
    precondition {
      condition     = contains(keys(var.state_machine_arns), each.key)
      error_message = "schedules names a pipeline without a state machine: ${each.key}."
    }
  }
}

# One Standard state machine per pipeline, its definition the committed output of
# `strata export asl` (Lambda functions and Glue jobs referenced by name). The definitions are
# templates: the Task states of on_premises steps send to the literal ${onprem_tasks_queue_url}
# (strata.aws.asl.ONPREM_QUEUE), filled in here. templatefile leaves the ASL's `$$.` JSONPath
# strings alone; tests/deploy checks that no definition holds any other template sequence.

locals {
  prefix = "strata-${var.env}"
}

# The /aws/vendedlogs/ prefix keeps CloudWatch's log resource policy within its size limit.
resource "aws_cloudwatch_log_group" "pipeline" {
  for_each = toset(var.pipelines)

  name              = "/aws/vendedlogs/states/${local.prefix}-${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_sfn_state_machine" "pipeline" {
  for_each = toset(var.pipelines)

  name     = "${local.prefix}-${each.key}"
  type     = "STANDARD"
  role_arn = var.role_arn
  definition = templatefile("${var.definitions_dir}/${each.key}.asl.json", {
    onprem_tasks_queue_url = var.onprem_tasks_queue_url
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.pipeline[each.key].arn}:*"
    level                  = var.log_level
    include_execution_data = var.include_execution_data
  }
}

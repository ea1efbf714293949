# Two queues to the premises, each with its dead-letter queue:
# - the FIFO export queue announcing changed gold days to `strata worker weather_sales`.
#   Deduplication ids come from the sender (table:date_key:version), not from content.
# - the standard on-premises task queue: the state machines send the Task states of
#   on_premises steps to it with a task token (sqs:sendMessage.waitForTaskToken), and
#   `strata tasks --queue <url>` on the premises runs them and answers Step Functions.

locals {
  name       = "strata-${var.env}-${var.name}"
  tasks_name = "strata-${var.env}-onprem-tasks"
}

resource "aws_sqs_queue" "dlq" {
  name                        = "${local.name}-dlq.fifo"
  fifo_queue                  = true
  content_based_deduplication = false
  message_retention_seconds   = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled     = true
}

resource "aws_sqs_queue" "export" {
  name                        = "${local.name}.fifo"
  fifo_queue                  = true
  content_based_deduplication = false
  visibility_timeout_seconds  = var.visibility_timeout_seconds
  message_retention_seconds   = var.message_retention_seconds
  sqs_managed_sse_enabled     = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.export.arn]
  })
}

# -- on-premises tasks ---------------------------------------------------------------------
# Standard, not FIFO: every message carries its own task token, Step Functions never sends
# a task twice (a retry is a new message with a new token), and order does not matter.

resource "aws_sqs_queue" "onprem_tasks_dlq" {
  name                      = "${local.tasks_name}-dlq"
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "onprem_tasks" {
  name                       = local.tasks_name
  visibility_timeout_seconds = var.tasks_visibility_timeout_seconds
  message_retention_seconds  = var.tasks_message_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.onprem_tasks_dlq.arn
    maxReceiveCount     = var.tasks_max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "onprem_tasks_dlq" {
  queue_url = aws_sqs_queue.onprem_tasks_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.onprem_tasks.arn]
  })
}

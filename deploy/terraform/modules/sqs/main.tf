# The FIFO queue announcing changed gold days to the on-premise worker, with its dead-letter
# queue. Deduplication ids come from the sender (table:date_key:version), not from content.

locals {
  name = "strata-${var.env}-${var.name}"
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

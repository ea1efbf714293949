output "queue_url" {
  description = "URL of the export queue (STRATA_WEATHER_SALES__QUEUE_URL)."
  value       = aws_sqs_queue.export.id
}

output "queue_arn" {
  description = "ARN of the export queue."
  value       = aws_sqs_queue.export.arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.id
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "onprem_tasks_queue_url" {
  description = "URL of the on-premises task queue: the state machines' $${onprem_tasks_queue_url} and `strata tasks --queue`."
  value       = aws_sqs_queue.onprem_tasks.id
}

output "onprem_tasks_queue_arn" {
  description = "ARN of the on-premises task queue."
  value       = aws_sqs_queue.onprem_tasks.arn
}

output "onprem_tasks_dlq_url" {
  description = "URL of the on-premises task queue's dead-letter queue."
  value       = aws_sqs_queue.onprem_tasks_dlq.id
}

output "onprem_tasks_dlq_arn" {
  description = "ARN of the on-premises task queue's dead-letter queue."
  value       = aws_sqs_queue.onprem_tasks_dlq.arn
}

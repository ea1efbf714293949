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

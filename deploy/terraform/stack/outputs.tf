output "lake_uri" {
  description = "The lake: STRATA_LAKE / --lake for strata commands run against this environment."
  value       = local.lake_uri
}

output "artifacts_bucket" {
  description = "Bucket for glue/<pipeline>_<step>.py, glue/strata.toml and the wheel (wheel_key)."
  value       = module.s3.artifacts_bucket
}

output "log_bucket" {
  description = "S3 access-log bucket (null when access logging is off)."
  value       = module.s3.log_bucket
}

output "kms_key_arn" {
  description = "KMS key of the buckets (null with SSE-S3); Athena users need kms:Decrypt on it."
  value       = module.s3.kms_key_arn
}

output "lambda_repository_url" {
  description = "ECR repository for the Lambda image."
  value       = module.lambda.repository_url
}

output "lambda_function_names" {
  description = "Lambda function per role."
  value       = module.lambda.function_names
}

output "glue_job_names" {
  description = "Glue job per engine step, keyed <pipeline>_<step>."
  value       = module.glue.job_names
}

output "glue_database_names" {
  description = "Glue Data Catalog database per pipeline, filled by `strata catalog sync --glue`."
  value       = module.glue.database_names
}

output "athena_workgroup" {
  description = "Athena workgroup with the scan limit."
  value       = module.glue.athena_workgroup
}

output "state_machine_arns" {
  description = "State machine per pipeline (aws stepfunctions start-execution --state-machine-arn ...)."
  value       = module.stepfunctions.state_machine_arns
}

output "schedule_names" {
  description = "EventBridge Scheduler schedule per scheduled pipeline."
  value       = module.eventbridge.schedule_names
}

output "export_queue_url" {
  description = "FIFO export queue: STRATA_WEATHER_SALES__QUEUE_URL of the on-premise worker."
  value       = module.sqs.queue_url
}

output "export_dlq_url" {
  description = "Dead-letter queue of the export queue."
  value       = module.sqs.dlq_url
}

output "onprem_tasks_queue_url" {
  description = "On-premises task queue: `strata tasks --queue <url>` on the premises runs the on_premises steps (weather_sales upload)."
  value       = module.sqs.onprem_tasks_queue_url
}

output "onprem_tasks_dlq_url" {
  description = "Dead-letter queue of the on-premises task queue."
  value       = module.sqs.onprem_tasks_dlq_url
}

output "worker_user_name" {
  description = "IAM user of the on-premise processes, `strata worker` and `strata tasks` (create its access key with the AWS CLI)."
  value       = module.iam.worker_user_name
}

output "secret_names" {
  description = "Secrets Manager secret per key; put their values with `aws secretsmanager put-secret-value`."
  value       = module.secrets.names
}

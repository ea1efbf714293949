# The outputs docs/deploy-aws.md reads by name; every other output of the stack is in `stack`
# (terraform output -json stack).

output "lake_uri" {
  description = "The lake: STRATA_LAKE / --lake for strata commands run against this environment."
  value       = module.strata.lake_uri
}

output "artifacts_bucket" {
  description = "Bucket for glue/<pipeline>_<step>.py, glue/strata.toml and the wheel (wheel_key)."
  value       = module.strata.artifacts_bucket
}

output "lambda_repository_url" {
  description = "ECR repository for the Lambda image."
  value       = module.strata.lambda_repository_url
}

output "state_machine_arns" {
  description = "State machine per pipeline (aws stepfunctions start-execution --state-machine-arn ...)."
  value       = module.strata.state_machine_arns
}

output "onprem_tasks_queue_url" {
  description = "On-premises task queue: `strata tasks --queue <url>` on the premises runs the on_premises steps (weather_sales upload)."
  value       = module.strata.onprem_tasks_queue_url
}

output "worker_user_name" {
  description = "IAM user of the on-premise processes, `strata worker` and `strata tasks` (create its access key with the AWS CLI)."
  value       = module.strata.worker_user_name
}

output "secret_names" {
  description = "Secrets Manager secret per key; put their values with `aws secretsmanager put-secret-value`."
  value       = module.strata.secret_names
}

output "stack" {
  description = "Every output of the stack (../../stack/outputs.tf): bucket, queue, job and function names."
  value       = module.strata
}

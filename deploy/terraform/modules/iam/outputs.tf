# Role outputs depend on the role's policy, so consumers wait for the permissions, not only the
# role: Step Functions checks log delivery permissions when it creates a state machine.

output "glue_role_arn" {
  description = "ARN of the role the Glue jobs run as."
  value       = aws_iam_role.glue.arn
  depends_on  = [aws_iam_role_policy.glue]
}

output "lambda_role_arns" {
  description = "ARN of each Lambda function's execution role, keyed by role (ingest, process, load, notify)."
  value       = { for role, r in aws_iam_role.lambda : role => r.arn }
  depends_on  = [aws_iam_role_policy.lambda]
}

output "states_role_arn" {
  description = "ARN of the role the state machines run as."
  value       = aws_iam_role.states.arn
  depends_on  = [aws_iam_role_policy.states]
}

output "scheduler_role_arn" {
  description = "ARN of the role EventBridge Scheduler uses to start executions."
  value       = aws_iam_role.scheduler.arn
  depends_on  = [aws_iam_role_policy.scheduler]
}

output "worker_user_name" {
  description = "Name of the IAM user for the on-premise worker (create its access key with the AWS CLI)."
  value       = aws_iam_user.worker.name
}

output "worker_user_arn" {
  description = "ARN of the IAM user for the on-premise worker."
  value       = aws_iam_user.worker.arn
}

output "state_machine_arns" {
  description = "State machine ARN per pipeline."
  value       = { for pipeline, sm in aws_sfn_state_machine.pipeline : pipeline => sm.arn }
}

output "log_group_names" {
  description = "CloudWatch log group of each state machine's executions."
  value       = { for pipeline, group in aws_cloudwatch_log_group.pipeline : pipeline => group.name }
}

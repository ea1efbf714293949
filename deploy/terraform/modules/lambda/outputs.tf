output "function_names" {
  description = "Function name per role (strata-<env>-<role>), as the state machines call them."
  value       = { for role, fn in aws_lambda_function.role : role => fn.function_name }
}

output "function_arns" {
  description = "Function ARN per role."
  value       = { for role, fn in aws_lambda_function.role : role => fn.arn }
}

output "repository_url" {
  description = "ECR repository to push the Lambda image to."
  value       = aws_ecr_repository.images.repository_url
}

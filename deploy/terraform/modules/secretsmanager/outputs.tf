output "arns" {
  description = "Secret ARN per key."
  value       = { for key, secret in aws_secretsmanager_secret.this : key => secret.arn }
}

output "names" {
  description = "Secret name per key (strata/<env>/<key>), as used in aws-sm: references."
  value       = { for key, secret in aws_secretsmanager_secret.this : key => secret.name }
}

output "lake_bucket" {
  description = "Name of the lake bucket; the lake URI is s3://<lake_bucket>."
  value       = aws_s3_bucket.this["lake"].id
}

output "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  value       = aws_s3_bucket.this["lake"].arn
}

output "artifacts_bucket" {
  description = "Name of the artifacts bucket (glue/ scripts and strata.toml, wheels/, glue-temp/, athena-results/)."
  value       = aws_s3_bucket.this["artifacts"].id
}

output "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  value       = aws_s3_bucket.this["artifacts"].arn
}

output "log_bucket" {
  description = "Name of the access-log bucket, or null when access logging is off."
  value       = var.access_logging ? aws_s3_bucket.logs[0].id : null
}

output "kms_key_arn" {
  description = "ARN of the buckets' KMS key, or null with SSE-S3."
  value       = var.use_kms ? aws_kms_key.lake[0].arn : null
}

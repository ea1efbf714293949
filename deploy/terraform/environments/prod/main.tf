# Strata on AWS, environment prod: the stack (../../stack) with prod's values, seed 001's
# production column (docs/deploy-aws.md, "dev and prod"). Per-deployment settings are the
# variables (terraform.tfvars); change a value below to change the environment.

module "strata" {
  source = "../../stack"

  env = "prod"

  image_uri                 = var.image_uri
  wheel_key                 = var.wheel_key
  alert_topic_arns          = var.alert_topic_arns
  lambda_environment        = var.lambda_environment
  lambda_subnet_ids         = var.lambda_subnet_ids
  lambda_security_group_ids = var.lambda_security_group_ids

  deletion_protection                = true
  use_kms                            = true
  access_logging                     = true
  archive_after_days                 = 90
  raw_expiration_days                = 455
  noncurrent_version_expiration_days = 30
  log_retention_days                 = 90
  queue_message_retention_seconds    = 1209600
  glue_worker_type                   = "G.2X"
  glue_spark_threads                 = 8
  glue_timeout_minutes               = 120
  athena_bytes_scanned_cutoff        = 107374182400 # 100 GiB
  lambda_functions = {
    ingest  = { memory_mb = 3008, timeout_seconds = 900, ephemeral_storage_mb = 4096 }
    process = { memory_mb = 3008, timeout_seconds = 900, ephemeral_storage_mb = 10240 }
    load    = { memory_mb = 3008, timeout_seconds = 900, ephemeral_storage_mb = 4096 }
    notify  = { memory_mb = 1024, timeout_seconds = 300, ephemeral_storage_mb = 512 }
  }
  state_machine_log_level          = "ERROR"
  state_machine_log_execution_data = false
  schedules = {
    totesys       = "rate(5 minutes)"
    retail_marts  = "rate(1 hour)"
    weather_sales = "cron(0 6 * * ? *)"
    smartsensor   = "cron(0 2 * * ? *)"
    shopease      = "cron(0 2 * * ? *)"
  }
}

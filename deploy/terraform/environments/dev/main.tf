# Strata on AWS, environment dev: the stack (../../stack) with dev's values, seed 001's
# development column (docs/deploy-aws.md, "dev and prod"). Per-deployment settings are the
# variables (terraform.tfvars); change a value below to change the environment.

module "strata" {
  source = "../../stack"

  env = "dev"

  image_uri                 = var.image_uri
  wheel_key                 = var.wheel_key
  alert_topic_arns          = var.alert_topic_arns
  lambda_environment        = var.lambda_environment
  lambda_subnet_ids         = var.lambda_subnet_ids
  lambda_security_group_ids = var.lambda_security_group_ids

  deletion_protection                = false
  use_kms                            = false
  access_logging                     = false
  archive_after_days                 = 30
  raw_expiration_days                = 90
  noncurrent_version_expiration_days = 7
  log_retention_days                 = 7
  queue_message_retention_seconds    = 345600
  glue_worker_type                   = "G.1X"
  glue_spark_threads                 = 4
  glue_timeout_minutes               = 60
  athena_bytes_scanned_cutoff        = 10737418240 # 10 GiB
  lambda_functions = {
    ingest  = { memory_mb = 2048, timeout_seconds = 900, ephemeral_storage_mb = 2048 }
    process = { memory_mb = 3008, timeout_seconds = 900, ephemeral_storage_mb = 4096 }
    load    = { memory_mb = 2048, timeout_seconds = 900, ephemeral_storage_mb = 2048 }
    notify  = { memory_mb = 1024, timeout_seconds = 300, ephemeral_storage_mb = 512 }
  }
  state_machine_log_level          = "ALL"
  state_machine_log_execution_data = true
  schedules                        = {}
}

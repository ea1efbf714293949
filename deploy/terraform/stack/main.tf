# Strata on AWS: everything one environment deploys, wired from ../modules. The environments
# (../environments/dev, ../environments/prod) call this with their values (seed 001's
# environment table; docs/deploy-aws.md, "dev and prod") and configure the provider and backend.

locals {
  # strata.aws.glue.spark_steps(pipeline): the engine steps, one Glue job each
  # (tests/deploy/test_terraform.py checks this against the code).
  glue_jobs = {
    weather_sales = ["refine", "publish"]
    smartsensor   = ["refine", "publish"]
    shopease      = ["refine", "publish"]
    retail_marts  = ["refine", "publish"]
    totesys       = ["refine", "publish"]
  }
  pipelines    = keys(local.glue_jobs)
  lambda_roles = keys(var.lambda_functions)
  lake_uri     = "s3://${module.s3.lake_bucket}"

  # Pipelines with on_premises steps (strata.runner.Step.on_premises): their state machines
  # send those steps to the on-premises task queue, where `strata tasks` runs them.
  onprem_pipelines = ["weather_sales"]

  # Secrets by key (strata/<env>/<key>) and who reads them: the Lambda role running the steps
  # that use them (strata.aws.asl.step_role) or the on-premise worker.
  secrets = {
    "weather_sales/api_key"       = { readers = ["ingest"], description = "OpenWeatherMap API key (weather_sales weather step)" }
    "weather_sales/warehouse_url" = { readers = ["worker"], description = "On-premise PostgreSQL URL the weather_sales worker syncs gold into" }
    "shopease/source_url"         = { readers = ["ingest"], description = "ShopEase OLTP PostgreSQL URL (extract step)" }
    "shopease/warehouse_url"      = { readers = ["load"], description = "ShopEase warehouse URL (sync step)" }
    "retail_marts/dimensions_url" = { readers = ["ingest"], description = "MySQL URL of the retail_marts dimension tables (dimensions step)" }
    "retail_marts/warehouse_url"  = { readers = ["load"], description = "MySQL warehouse URL of the retail_marts marts (load step)" }
    "totesys/source_url"          = { readers = ["ingest"], description = "totesys OLTP PostgreSQL URL (ingest and reference steps)" }
    "totesys/warehouse_url"       = { readers = ["load"], description = "totesys star-schema warehouse URL (load step)" }
  }
  secret_ref = { for key, name in module.secrets.names : key => "aws-sm:${name}" }

  # Pipeline options of the Lambda functions (STRATA_<PIPELINE>__<OPTION>). The embedded
  # stand-ins (local APIs, embedded PostgreSQL, generated sample data) do not run on Lambda.
  lambda_environment = merge({
    STRATA_SMARTSENSOR__API_URL             = "https://archive-api.open-meteo.com"
    STRATA_WEATHER_SALES__API_URL           = "https://api.openweathermap.org"
    STRATA_WEATHER_SALES__API_KEY           = local.secret_ref["weather_sales/api_key"]
    STRATA_WEATHER_SALES__QUEUE_URL         = module.sqs.queue_url
    STRATA_WEATHER_SALES__GENERATE_IF_EMPTY = "false"
    STRATA_SHOPEASE__SOURCE_URL             = local.secret_ref["shopease/source_url"]
    STRATA_SHOPEASE__WAREHOUSE_URL          = local.secret_ref["shopease/warehouse_url"]
    STRATA_SHOPEASE__GENERATE_IF_EMPTY      = "false"
    STRATA_RETAIL_MARTS__LANDING_URL        = "${local.lake_uri}/landing/retail_marts"
    STRATA_RETAIL_MARTS__DIMENSIONS_URL     = local.secret_ref["retail_marts/dimensions_url"]
    STRATA_RETAIL_MARTS__WAREHOUSE_URL      = local.secret_ref["retail_marts/warehouse_url"]
    STRATA_RETAIL_MARTS__GENERATE_IF_EMPTY  = "false"
    STRATA_TOTESYS__SOURCE_URL              = local.secret_ref["totesys/source_url"]
    STRATA_TOTESYS__WAREHOUSE_URL           = local.secret_ref["totesys/warehouse_url"]
    STRATA_TOTESYS__GENERATE_IF_EMPTY       = "false"
  }, var.lambda_environment)
}

module "s3" {
  source = "../modules/s3"

  env                                = var.env
  force_destroy                      = !var.deletion_protection
  use_kms                            = var.use_kms
  archive_after_days                 = var.archive_after_days
  archive_storage_class              = var.archive_storage_class
  raw_expiration_days                = var.raw_expiration_days
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  access_logging                     = var.access_logging
  access_log_retention_days          = var.log_retention_days
}

module "sqs" {
  source = "../modules/sqs"

  env                       = var.env
  message_retention_seconds = var.queue_message_retention_seconds
}

module "secrets" {
  source = "../modules/secretsmanager"

  env                     = var.env
  secrets                 = { for key, secret in local.secrets : key => secret.description }
  recovery_window_in_days = var.deletion_protection ? 30 : 0
}

module "iam" {
  source = "../modules/iam"

  env                    = var.env
  lake_bucket_arn        = module.s3.lake_bucket_arn
  artifacts_bucket_arn   = module.s3.artifacts_bucket_arn
  kms_key_arn            = module.s3.kms_key_arn
  pipelines              = local.pipelines
  glue_jobs              = local.glue_jobs
  lambda_roles           = local.lambda_roles
  export_queue_arn       = module.sqs.queue_arn
  export_dlq_arn         = module.sqs.dlq_arn
  onprem_tasks_queue_arn = module.sqs.onprem_tasks_queue_arn
  onprem_pipelines       = local.onprem_pipelines
  alert_topic_arns       = var.alert_topic_arns
  lambda_in_vpc          = length(var.lambda_subnet_ids) > 0
  secret_arns = {
    for reader in distinct(flatten([for secret in local.secrets : secret.readers])) : reader => [
      for key, secret in local.secrets : module.secrets.arns[key] if contains(secret.readers, reader)
    ]
  }
}

module "glue" {
  source = "../modules/glue"

  env                         = var.env
  glue_jobs                   = local.glue_jobs
  role_arn                    = module.iam.glue_role_arn
  lake_uri                    = local.lake_uri
  artifacts_bucket            = module.s3.artifacts_bucket
  wheel_key                   = var.wheel_key
  worker_type                 = var.glue_worker_type
  number_of_workers           = var.glue_number_of_workers
  spark_threads               = var.glue_spark_threads
  timeout_minutes             = var.glue_timeout_minutes
  log_retention_days          = var.log_retention_days
  athena_bytes_scanned_cutoff = var.athena_bytes_scanned_cutoff
  force_destroy               = !var.deletion_protection
}

module "lambda" {
  source = "../modules/lambda"

  env                = var.env
  image_uri          = var.image_uri
  role_arns          = module.iam.lambda_role_arns
  functions          = var.lambda_functions
  lake_uri           = local.lake_uri
  environment        = local.lambda_environment
  log_retention_days = var.log_retention_days
  subnet_ids         = var.lambda_subnet_ids
  security_group_ids = var.lambda_security_group_ids
  force_destroy      = !var.deletion_protection
}

module "stepfunctions" {
  source = "../modules/stepfunctions"

  env                    = var.env
  pipelines              = local.pipelines
  definitions_dir        = "${path.module}/../../asl/${var.env}"
  onprem_tasks_queue_url = module.sqs.onprem_tasks_queue_url
  role_arn               = module.iam.states_role_arn
  log_retention_days     = var.log_retention_days
  log_level              = var.state_machine_log_level
  include_execution_data = var.state_machine_log_execution_data
}

module "eventbridge" {
  source = "../modules/eventbridge"

  env                = var.env
  schedules          = var.schedules
  state_machine_arns = module.stepfunctions.state_machine_arns
  role_arn           = module.iam.scheduler_role_arn
}

variable "env" {
  description = "Environment name (dev, prod): the jobs' --env argument and part of every name."
  type        = string
}

variable "glue_jobs" {
  description = "Engine steps per pipeline (strata.aws.glue.spark_steps): one Glue job strata-<env>-<pipeline>-<step> each."
  type        = map(list(string))
}

variable "role_arn" {
  description = "ARN of the IAM role the jobs run as."
  type        = string
}

variable "lake_uri" {
  description = "The lake, s3://bucket[/prefix]: the jobs' --lake argument."
  type        = string
}

variable "artifacts_bucket" {
  description = "Bucket holding glue/<pipeline>_<step>.py, glue/strata.toml, the wheel, glue-temp/ and athena-results/."
  type        = string
}

variable "wheel_key" {
  description = "Key of the strata wheel in the artifacts bucket, installed with --additional-python-modules."
  type        = string
}

variable "config_key" {
  description = "Key of strata.toml in the artifacts bucket, shipped to the jobs with --extra-files (null: none; job arguments and defaults only)."
  type        = string
  default     = "glue/strata.toml"
}

variable "glue_version" {
  description = "Glue version. Strata needs Python 3.11, so Glue 5.0 or later (Glue 4.0 ships Python 3.10)."
  type        = string
  default     = "5.0"

  validation {
    condition     = tonumber(var.glue_version) >= 5
    error_message = "Strata needs Python 3.11: use Glue 5.0 or later."
  }
}

variable "worker_type" {
  description = "Glue worker type (G.1X: 4 vCPU/16 GB, G.2X: 8 vCPU/32 GB, ...). Strata's Spark runs on the driver, so size by worker type."
  type        = string
}

variable "number_of_workers" {
  description = "Glue workers per job. Strata's Spark runs in local mode on the driver: workers beyond Glue's minimum (2) sit idle and are billed."
  type        = number
}

variable "spark_threads" {
  description = "The jobs' --workers argument: Spark local[N] threads on the driver, normally the worker type's vCPUs."
  type        = number
}

variable "timeout_minutes" {
  description = "A job run is stopped (and fails) after this many minutes."
  type        = number
}

variable "log_retention_days" {
  description = "Days the jobs' continuous CloudWatch logs are kept."
  type        = number
}

variable "enable_metrics" {
  description = "Publish Glue job metrics to CloudWatch (--enable-metrics)."
  type        = bool
  default     = true
}

variable "athena_bytes_scanned_cutoff" {
  description = "Athena workgroup limit: a query scanning more bytes than this is cancelled (minimum 10 MB)."
  type        = number
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the Athena workgroup with its saved queries."
  type        = bool
}

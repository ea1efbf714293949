# No defaults where dev and prod differ: each environment's main.tf passes its value (seed 001's
# environment table; docs/deploy-aws.md, "dev and prod").

variable "env" {
  description = "Environment name (dev or prod): the strata-<env>- prefix of every resource and the deploy/asl/<env> definitions."
  type        = string
}

variable "image_uri" {
  description = "Lambda image built from deploy/lambda/Dockerfile and pushed to the ECR repository (output lambda_repository_url), with a tag per build."
  type        = string
}

variable "wheel_key" {
  description = "Key of the strata wheel in the artifacts bucket (the Glue jobs install it)."
  type        = string
  default     = "wheels/strata-0.1.0-py3-none-any.whl"
}

variable "deletion_protection" {
  description = "Refuse to destroy non-empty buckets, the ECR repository and the Athena workgroup, and keep deleted secrets recoverable for 30 days."
  type        = bool
}

variable "use_kms" {
  description = "Encrypt the lake and artifacts buckets with a customer-managed KMS key instead of SSE-S3."
  type        = bool
}

variable "access_logging" {
  description = "S3 server access logs of the lake and artifacts buckets, kept in a log bucket."
  type        = bool
}

variable "archive_after_days" {
  description = "Days after which raw/ and bronze/ objects move to archive_storage_class."
  type        = number
}

variable "archive_storage_class" {
  description = "Archive storage class (GLACIER_IR stays readable without a restore)."
  type        = string
  default     = "GLACIER_IR"
}

variable "raw_expiration_days" {
  description = "Days after which raw/ objects expire (seed 001, prod: 90 days in S3 + 365 in Glacier); null keeps them."
  type        = number
}

variable "noncurrent_version_expiration_days" {
  description = "Days replaced or deleted object versions are kept."
  type        = number
}

variable "log_retention_days" {
  description = "CloudWatch log retention of Lambda, Glue and Step Functions, and S3 access log retention."
  type        = number
}

variable "queue_message_retention_seconds" {
  description = "How long an export message waits for the on-premise worker (SQS: 4 days by default, 14 at most)."
  type        = number
}

variable "glue_worker_type" {
  description = "Glue worker type. Strata's Spark runs on the driver, so a bigger worker type (not more workers) makes a job faster."
  type        = string
}

variable "glue_number_of_workers" {
  description = "Glue workers per job; 2 is Glue's minimum. Seed 001 used 5, but Strata's Spark runs in local mode on the driver and extra workers would idle (docs/glue.md)."
  type        = number
  default     = 2
}

variable "glue_spark_threads" {
  description = "The jobs' --workers argument: Spark local[N] threads, the driver's vCPUs (G.1X: 4, G.2X: 8)."
  type        = number
}

variable "glue_timeout_minutes" {
  description = "Glue job timeout in minutes (seed 001: 120)."
  type        = number
}

variable "athena_bytes_scanned_cutoff" {
  description = "Athena cancels a query of the strata workgroup that scans more bytes than this."
  type        = number
}

variable "lambda_functions" {
  description = "Memory (MB), timeout (s) and /tmp storage (MB) per Lambda function role. More than 3008 MB needs a Lambda quota increase on new accounts."
  type = map(object({
    memory_mb            = number
    timeout_seconds      = number
    ephemeral_storage_mb = number
  }))
}

variable "lambda_environment" {
  description = "Extra or overriding environment variables of every Lambda function (STRATA_<PIPELINE>__<OPTION> = value or aws-sm:/env: reference)."
  type        = map(string)
  default     = {}
}

variable "lambda_subnet_ids" {
  description = "Subnets for the Lambda functions, to reach databases in a VPC. Empty: no VPC (see the NAT note in docs/deploy-aws.md)."
  type        = list(string)
  default     = []
}

variable "lambda_security_group_ids" {
  description = "Security groups of the Lambda functions when lambda_subnet_ids is set."
  type        = list(string)
  default     = []
}

variable "state_machine_log_level" {
  description = "Step Functions execution logging: ALL, ERROR, FATAL or OFF."
  type        = string
}

variable "state_machine_log_execution_data" {
  description = "Include state input and output in the execution logs."
  type        = bool
}

variable "schedules" {
  description = "EventBridge Scheduler expression per pipeline (strata.toml [profiles.<env>] schedule and [profiles.<env>.schedules]); \"off\" or absent: not scheduled."
  type        = map(string)
}

variable "alert_topic_arns" {
  description = "SNS topics the notify function may publish failure alerts to (alert channels of type sns in strata.toml)."
  type        = list(string)
  default     = []
}

variable "env" {
  description = "Environment name (dev, prod): part of every role and user name."
  type        = string
}

variable "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket (Glue scripts, wheel, strata.toml, Glue temp)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the buckets' KMS key, or null when they use SSE-S3."
  type        = string
  default     = null
}

variable "pipelines" {
  description = "Pipelines with a state machine (strata-<env>-<pipeline>) the scheduler may start."
  type        = list(string)
}

variable "glue_jobs" {
  description = "Engine steps per pipeline; each is the Glue job strata-<env>-<pipeline>-<step> Step Functions may run."
  type        = map(list(string))
}

variable "lambda_roles" {
  description = "Lambda functions strata-<env>-<role>; each gets its own execution role."
  type        = list(string)
  default     = ["ingest", "process", "load", "notify"]
}

variable "export_queue_arn" {
  description = "ARN of the FIFO export queue: notify sends to it, the on-premise worker receives from it."
  type        = string
}

variable "export_dlq_arn" {
  description = "ARN of the export queue's dead-letter queue (the worker may look it up and read its attributes)."
  type        = string
}

variable "onprem_tasks_queue_arn" {
  description = "ARN of the on-premises task queue: the state machines send on_premises steps to it, the worker user receives them."
  type        = string
}

variable "onprem_pipelines" {
  description = "Pipelines with on_premises steps (Task states on the on-premises task queue): the worker user answers their state machines' task tokens and writes their run reports."
  type        = list(string)
}

variable "secret_arns" {
  description = "Secrets Manager ARNs each principal may read, keyed by Lambda role (ingest, load, ...) or \"worker\" for the on-premise worker."
  type        = map(list(string))
  default     = {}
}

variable "worker_gold_prefixes" {
  description = "Lake prefixes the on-premise worker may read (the gold tables it syncs)."
  type        = list(string)
  default     = ["gold/weather_sales/"]
}

variable "worker_upload_prefixes" {
  description = "Lake prefixes the on-premise worker user may write (and read back) for the on_premises steps: weather_sales' upload writes raw/sales/date_key=<day>/ and raw/master/."
  type        = list(string)
  default     = ["raw/sales/", "raw/master/"]
}

variable "alert_topic_arns" {
  description = "SNS topics the notify function may publish failure alerts to (type = \"sns\" alert channels in strata.toml)."
  type        = list(string)
  default     = []
}

variable "lambda_in_vpc" {
  description = "Whether the Lambda functions run in a VPC (they then need to manage their network interfaces)."
  type        = bool
  default     = false
}

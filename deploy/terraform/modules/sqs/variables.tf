variable "env" {
  description = "Environment name (dev, prod): part of the queue names."
  type        = string
}

variable "name" {
  description = "Queue name between strata-<env>- and .fifo."
  type        = string
  default     = "weather-sales-export"
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden; the worker extends it while a sync runs."
  type        = number
  default     = 60
}

variable "max_receive_count" {
  description = "Receives after which an export message moves to its dead-letter queue."
  type        = number
  default     = 5
}

variable "message_retention_seconds" {
  description = "How long an unconsumed export message is kept (60 s to 14 days)."
  type        = number
}

variable "dlq_message_retention_seconds" {
  description = "How long a dead-lettered message (export or task) is kept (60 s to 14 days)."
  type        = number
  default     = 1209600
}

variable "tasks_visibility_timeout_seconds" {
  description = "How long a received on-premises task stays hidden before another `strata tasks` receive gets it again (the worker asks for 900 s on every receive too)."
  type        = number
  default     = 900
}

variable "tasks_max_receive_count" {
  description = "Receives after which an on-premises task moves to its dead-letter queue (a worker that died three times on it)."
  type        = number
  default     = 3
}

variable "tasks_message_retention_seconds" {
  description = "How long an unreceived on-premises task is kept. Step Functions stops waiting after the task's TimeoutSeconds (3600, strata.aws.asl.CALLBACK_TIMEOUT), so an older message only holds an expired token: 2 hours leaves margin."
  type        = number
  default     = 7200

  validation {
    condition     = var.tasks_message_retention_seconds >= 3600 && var.tasks_message_retention_seconds <= 1209600
    error_message = "tasks_message_retention_seconds must cover the task timeout (3600 s) and stay within SQS's 14 days."
  }
}

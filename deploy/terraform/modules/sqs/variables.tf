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
  description = "Receives after which a message moves to the dead-letter queue."
  type        = number
  default     = 5
}

variable "message_retention_seconds" {
  description = "How long an unconsumed message is kept (60 s to 14 days)."
  type        = number
}

variable "dlq_message_retention_seconds" {
  description = "How long a dead-lettered message is kept (60 s to 14 days)."
  type        = number
  default     = 1209600
}

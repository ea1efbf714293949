variable "env" {
  description = "Environment name (dev, prod): part of every state machine name."
  type        = string
}

variable "pipelines" {
  description = "Pipelines with a state machine strata-<env>-<pipeline>."
  type        = list(string)
}

variable "definitions_dir" {
  description = "Folder of <pipeline>.asl.json, written by `strata export asl --all --env <env> --out <folder>`."
  type        = string
}

variable "onprem_tasks_queue_url" {
  description = "URL of the on-premises task queue, put in place of $${onprem_tasks_queue_url} in the definitions (Task states of on_premises steps)."
  type        = string
}

variable "role_arn" {
  description = "ARN of the IAM role the state machines run as."
  type        = string
}

variable "log_retention_days" {
  description = "Days the execution logs are kept."
  type        = number
}

variable "log_level" {
  description = "Execution history sent to CloudWatch Logs: ALL, ERROR, FATAL or OFF."
  type        = string

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.log_level)
    error_message = "log_level must be ALL, ERROR, FATAL or OFF."
  }
}

variable "include_execution_data" {
  description = "Log state input and output too (they can carry run parameters; never secrets, which Strata resolves inside the steps)."
  type        = bool
}

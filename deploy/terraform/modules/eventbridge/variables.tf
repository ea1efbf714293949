variable "env" {
  description = "Environment name (dev, prod): the schedule group strata-<env> and schedule names."
  type        = string
}

variable "schedules" {
  description = "Schedule expression per pipeline, EventBridge syntax: rate(5 minutes), cron(0 2 * * ? *). Pipelines left out, or set to \"off\", are not scheduled."
  type        = map(string)
  default     = {}
}

variable "state_machine_arns" {
  description = "State machine ARN per pipeline: what each schedule starts."
  type        = map(string)
}

variable "role_arn" {
  description = "ARN of the role EventBridge Scheduler assumes to start executions."
  type        = string
}

variable "timezone" {
  description = "Time zone of cron expressions."
  type        = string
  default     = "UTC"
}

variable "execution_input" {
  description = "JSON input of every scheduled execution."
  type        = string
  default     = "{}"
}

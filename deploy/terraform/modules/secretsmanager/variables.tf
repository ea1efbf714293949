variable "env" {
  description = "Environment name (dev, prod): secrets are named strata/<env>/<key>."
  type        = string
}

variable "secrets" {
  description = "Secrets to create, key (e.g. shopease/source_url) => description. Only the secret is created; its value is put with the AWS CLI and never enters the Terraform state."
  type        = map(string)
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored (0: deleted at once; 7-30 otherwise)."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key encrypting the secrets (null: the account's aws/secretsmanager key)."
  type        = string
  default     = null
}

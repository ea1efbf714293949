# What one deployment sets in terraform.tfvars. The environment's own values (retention,
# sizes, schedules, protection) are the arguments in main.tf.

variable "region" {
  description = "AWS region of every resource."
  type        = string
  default     = "eu-central-1"
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

variable "alert_topic_arns" {
  description = "SNS topics the notify function may publish failure alerts to (alert channels of type sns in strata.toml)."
  type        = list(string)
  default     = []
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

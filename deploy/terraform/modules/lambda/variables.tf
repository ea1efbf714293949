variable "env" {
  description = "Environment name (dev, prod): STRATA_ENV and part of every function name."
  type        = string
}

variable "image_uri" {
  description = "ECR image built from deploy/lambda/Dockerfile, e.g. <account>.dkr.ecr.<region>.amazonaws.com/strata-prod-lambda:0.1.0. A new tag is a new deployment."
  type        = string
}

variable "role_arns" {
  description = "Execution role ARN per function role (ingest, process, load, notify)."
  type        = map(string)
}

variable "functions" {
  description = "Size per function role: memory (MB, up to 10240; new accounts are limited to 3008 until a quota increase), timeout (s, up to 900) and /tmp storage (MB, 512-10240)."
  type = map(object({
    memory_mb            = number
    timeout_seconds      = number
    ephemeral_storage_mb = number
  }))
}

variable "lake_uri" {
  description = "The lake, s3://bucket[/prefix]: STRATA_LAKE."
  type        = string
}

variable "environment" {
  description = "Further environment variables for every function, e.g. STRATA_<PIPELINE>__<OPTION> settings and aws-sm: secret references."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Days the functions' CloudWatch logs are kept."
  type        = number
}

variable "architecture" {
  description = "CPU architecture of the image: x86_64 or arm64 (must match how the image was built)."
  type        = string
  default     = "x86_64"
}

variable "subnet_ids" {
  description = "Subnets to run the functions in (to reach private databases). Empty: no VPC, direct internet access."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the functions when subnet_ids is set."
  type        = list(string)
  default     = []
}

variable "image_tag_mutability" {
  description = "ECR tag mutability: IMMUTABLE forces a new tag per build (what Lambda deploys is then unambiguous)."
  type        = string
  default     = "IMMUTABLE"
}

variable "keep_images" {
  description = "How many images the ECR repository keeps; older ones are expired."
  type        = number
  default     = 10
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the ECR repository with its images."
  type        = bool
}

variable "env" {
  description = "Environment name (dev, prod): part of every bucket name."
  type        = string
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets. False is the deletion protection of prod."
  type        = bool
}

variable "use_kms" {
  description = "Encrypt the lake and artifacts buckets with a customer-managed KMS key (SSE-KMS) instead of SSE-S3."
  type        = bool
  default     = false
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled deletion of the KMS key takes effect (7-30 days)."
  type        = number
  default     = 30
}

variable "archive_prefixes" {
  description = "Lake prefixes whose objects move to the archive storage class after archive_after_days."
  type        = list(string)
  default     = ["raw/", "bronze/"]
}

variable "archive_after_days" {
  description = "Days after creation when objects under archive_prefixes move to archive_storage_class."
  type        = number
}

variable "archive_storage_class" {
  description = "Storage class for archived objects. GLACIER_IR stays readable by GetObject (a full refresh can reread bronze); GLACIER or DEEP_ARCHIVE need a restore first."
  type        = string
  default     = "GLACIER_IR"

  validation {
    condition     = contains(["STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], var.archive_storage_class)
    error_message = "archive_storage_class must be STANDARD_IA, GLACIER_IR, GLACIER or DEEP_ARCHIVE."
  }
}

variable "raw_expiration_days" {
  description = "Days after creation when objects under raw/ expire (null: never). Bronze is never expired by S3: Strata's housekeeping deletes consumed loads, and manifests are checkpoints."
  type        = number
  default     = null
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept before S3 removes it."
  type        = number
}

variable "access_logging" {
  description = "Create a log bucket and send S3 server access logs of the lake and artifacts buckets to it."
  type        = bool
}

variable "access_log_retention_days" {
  description = "Days S3 access logs are kept in the log bucket."
  type        = number
  default     = 90
}

# The lake bucket (bronze/silver/gold/quarantine, raw/ zone, _runs/ reports), the artifacts
# bucket (Glue scripts, the strata wheel, strata.toml, Glue temp, Athena results) and, when
# access logging is on, a log bucket receiving both buckets' S3 server access logs.

data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  buckets = {
    lake      = "strata-${var.env}-lake-${local.account_id}"
    artifacts = "strata-${var.env}-artifacts-${local.account_id}"
  }
}

resource "aws_kms_key" "lake" {
  count = var.use_kms ? 1 : 0

  description             = "strata ${var.env}: lake and artifacts buckets"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
}

resource "aws_kms_alias" "lake" {
  count = var.use_kms ? 1 : 0

  name          = "alias/strata-${var.env}-lake"
  target_key_id = aws_kms_key.lake[0].key_id
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets

  bucket        = each.value
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.use_kms ? "aws:kms" : "AES256"
      kms_master_key_id = var.use_kms ? aws_kms_key.lake[0].arn : null
    }
    # One data key per bucket instead of one KMS request per object: far fewer KMS calls.
    bucket_key_enabled = var.use_kms
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket     = each.value.id
  policy     = data.aws_iam_policy_document.tls_only[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket     = aws_s3_bucket.this["lake"].id
  depends_on = [aws_s3_bucket_versioning.this]

  dynamic "rule" {
    for_each = toset(var.archive_prefixes)
    content {
      id     = "archive-${trimsuffix(rule.value, "/")}"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      transition {
        days          = var.archive_after_days
        storage_class = var.archive_storage_class
      }
    }
  }

  dynamic "rule" {
    for_each = var.raw_expiration_days == null ? [] : [var.raw_expiration_days]
    content {
      id     = "expire-raw"
      status = "Enabled"
      filter {
        prefix = "raw/"
      }
      expiration {
        days = rule.value
      }
    }
  }

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    expiration {
      expired_object_delete_marker = true
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket     = aws_s3_bucket.this["artifacts"].id
  depends_on = [aws_s3_bucket_versioning.this]

  # Glue scratch files and Athena query results are disposable.
  dynamic "rule" {
    for_each = { "glue-temp/" = 7, "athena-results/" = 30 }
    content {
      id     = "expire-${trimsuffix(rule.key, "/")}"
      status = "Enabled"
      filter {
        prefix = rule.key
      }
      expiration {
        days = rule.value
      }
    }
  }

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# -- access logging ------------------------------------------------------------------------

resource "aws_s3_bucket" "logs" {
  count = var.access_logging ? 1 : 0

  bucket        = "strata-${var.env}-access-logs-${local.account_id}"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  count = var.access_logging ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  count = var.access_logging ? 1 : 0

  bucket                  = aws_s3_bucket.logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Server access logs can only be delivered to a bucket encrypted with SSE-S3.
resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  count = var.access_logging ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  count = var.access_logging ? 1 : 0

  bucket = aws_s3_bucket.logs[0].id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_retention_days
    }
  }
}

data "aws_iam_policy_document" "logs" {
  count = var.access_logging ? 1 : 0

  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs[0].arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [for bucket in aws_s3_bucket.this : bucket.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  count = var.access_logging ? 1 : 0

  bucket     = aws_s3_bucket.logs[0].id
  policy     = data.aws_iam_policy_document.logs[0].json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

resource "aws_s3_bucket_logging" "this" {
  for_each = { for name, bucket in aws_s3_bucket.this : name => bucket.id if var.access_logging }

  bucket        = each.value
  target_bucket = aws_s3_bucket.logs[0].id
  target_prefix = "${each.key}/"
}

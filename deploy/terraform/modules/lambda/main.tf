# The driver steps' functions: one container image (deploy/lambda/Dockerfile), four functions
# strata-<env>-<role> whose handler is strata.aws.lambdas.<role>.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  prefix       = "strata-${var.env}"
  function_arn = "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:function:${local.prefix}-*"
}

# Create this first (`terraform apply -target=module.lambda.aws_ecr_repository.images`), push
# the image, then apply the rest: a function cannot be created from an image that is missing.
resource "aws_ecr_repository" "images" {
  name                 = "${local.prefix}-lambda"
  image_tag_mutability = var.image_tag_mutability
  force_delete         = var.force_destroy

  image_scanning_configuration {
    scan_on_push = true
  }
}

resource "aws_ecr_lifecycle_policy" "images" {
  repository = aws_ecr_repository.images.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last ${var.keep_images} images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = var.keep_images
      }
      action = { type = "expire" }
    }]
  })
}

data "aws_iam_policy_document" "pull" {
  statement {
    sid     = "LambdaPull"
    actions = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:sourceArn"
      values   = [local.function_arn]
    }
  }
}

resource "aws_ecr_repository_policy" "images" {
  repository = aws_ecr_repository.images.name
  policy     = data.aws_iam_policy_document.pull.json
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = var.functions

  name              = "/aws/lambda/${local.prefix}-${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "role" {
  for_each = var.functions

  function_name = "${local.prefix}-${each.key}"
  description   = "strata ${var.env}: ${each.key} steps (handler strata.aws.lambdas.${each.key})"
  role          = var.role_arns[each.key]
  package_type  = "Image"
  image_uri     = var.image_uri
  architectures = [var.architecture]
  memory_size   = each.value.memory_mb
  timeout       = each.value.timeout_seconds

  image_config {
    command = ["strata.aws.lambdas.${each.key}"]
  }

  ephemeral_storage {
    size = each.value.ephemeral_storage_mb
  }

  # Last in the merge, so var.environment cannot override them. /tmp does not outlast an
  # invocation: STRATA_STATE_IN_LAKE copies the pipeline's state database from
  # <lake>/_strata/state/<pipeline>.db into STRATA_STATE_DIR before the step and writes it
  # back (conditionally) after it.
  environment {
    variables = merge(var.environment, {
      STRATA_ENV           = var.env
      STRATA_LAKE          = var.lake_uri
      STRATA_STATE_DIR     = "/tmp/strata"
      STRATA_STATE_IN_LAKE = "true"
    })
  }

  dynamic "vpc_config" {
    for_each = length(var.subnet_ids) > 0 ? [var.subnet_ids] : []
    content {
      subnet_ids         = vpc_config.value
      security_group_ids = var.security_group_ids
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  depends_on = [aws_ecr_repository_policy.images]
}

# Least-privilege principals: one role for the Glue jobs, one per Lambda function, one for the
# state machines, one for EventBridge Scheduler, and an IAM user for the on-premise worker.
# No action wildcards; resources are named ARNs except where AWS requires "*" (CloudWatch log
# delivery, PutMetricData, VPC network interfaces).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  prefix    = "strata-${var.env}"
  account   = data.aws_caller_identity.current.account_id
  arn_start = "arn:${data.aws_partition.current.partition}"
  region    = data.aws_region.current.name
  log_group = "${local.arn_start}:logs:${local.region}:${local.account}:log-group"

  glue_job_arns = flatten([
    for pipeline, steps in var.glue_jobs : [
      for step in steps : "${local.arn_start}:glue:${local.region}:${local.account}:job/${local.prefix}-${pipeline}-${step}"
    ]
  ])
  state_machine_arns = [
    for pipeline in var.pipelines : "${local.arn_start}:states:${local.region}:${local.account}:stateMachine:${local.prefix}-${pipeline}"
  ]
  lambda_arns = [
    for role in var.lambda_roles : "${local.arn_start}:lambda:${local.region}:${local.account}:function:${local.prefix}-${role}"
  ]
  kms_keys = var.kms_key_arn == null ? [] : [var.kms_key_arn]

  # The pipelines' state databases (strata.runner.lake_state.state_object): with
  # state_in_lake, every task copies its pipeline's in before the step and writes it back
  # after. The Lambda and Glue roles reach them through LakeObjects; the on-premise worker
  # user gets exactly the keys of the pipelines it runs steps for.
  state_objects = [for pipeline in var.onprem_pipelines : "_strata/state/${pipeline}.db"]
  # State machines with Task states on the on-premises task queue: their task tokens are the
  # ones the worker answers.
  onprem_state_machine_arns = [
    for pipeline in var.onprem_pipelines : "${local.arn_start}:states:${local.region}:${local.account}:stateMachine:${local.prefix}-${pipeline}"
  ]
  # What the worker may list (s3:prefix). S3 also consults this when it decides between 404
  # and 403 for a missing key, so the first upload of a file and the first state copy see
  # "not found" rather than "access denied".
  worker_list_prefixes = concat(
    [for prefix in concat(var.worker_gold_prefixes, var.worker_upload_prefixes) : "${prefix}*"],
    local.state_objects,
  )
}

# -- shared statements ---------------------------------------------------------------------

data "aws_iam_policy_document" "lake_read_write" {
  statement {
    sid       = "LakeBucket"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.lake_bucket_arn]
  }
  statement {
    sid       = "LakeObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.lake_bucket_arn}/*"]
  }
  dynamic "statement" {
    for_each = local.kms_keys
    content {
      sid       = "LakeKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "assume" {
  for_each = toset(["glue", "lambda", "states", "scheduler"])

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["${each.key}.amazonaws.com"]
    }
    dynamic "condition" {
      # Confused-deputy guard for the services that pass the calling account.
      for_each = contains(["states", "scheduler"], each.key) ? [local.account] : []
      content {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [condition.value]
      }
    }
  }
}

# -- Glue jobs -----------------------------------------------------------------------------

resource "aws_iam_role" "glue" {
  name               = "${local.prefix}-glue"
  assume_role_policy = data.aws_iam_policy_document.assume["glue"].json
}

data "aws_iam_policy_document" "glue" {
  source_policy_documents = [data.aws_iam_policy_document.lake_read_write.json]

  statement {
    sid       = "ArtifactsRead"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/glue/*", "${var.artifacts_bucket_arn}/wheels/*"]
  }
  statement {
    sid       = "GlueTemp"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.artifacts_bucket_arn}/glue-temp/*"]
  }
  statement {
    sid       = "ArtifactsList"
    actions   = ["s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["glue/*", "glue-temp/*", "wheels/*"]
    }
  }
  statement {
    sid     = "JobLogs"
    actions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      "${local.log_group}:/aws-glue/*",
      "${local.log_group}:/aws-glue/*:log-stream:*",
    ]
  }
  statement {
    sid       = "JobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue"]
    }
  }
}

resource "aws_iam_role_policy" "glue" {
  name   = "strata-glue-job"
  role   = aws_iam_role.glue.id
  policy = data.aws_iam_policy_document.glue.json
}

# -- Lambda functions ----------------------------------------------------------------------

resource "aws_iam_role" "lambda" {
  for_each = toset(var.lambda_roles)

  name               = "${local.prefix}-lambda-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

data "aws_iam_policy_document" "lambda" {
  for_each = toset(var.lambda_roles)

  source_policy_documents = [data.aws_iam_policy_document.lake_read_write.json]

  statement {
    sid       = "FunctionLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group}:/aws/lambda/${local.prefix}-${each.key}:*"]
  }
  dynamic "statement" {
    for_each = length(lookup(var.secret_arns, each.key, [])) > 0 ? [var.secret_arns[each.key]] : []
    content {
      sid       = "Secrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = statement.value
    }
  }
  dynamic "statement" {
    # Only notify announces gold changes on the export queue.
    for_each = each.key == "notify" ? [var.export_queue_arn] : []
    content {
      sid       = "ExportQueueSend"
      actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
      resources = [statement.value]
    }
  }
  dynamic "statement" {
    # Failure alerts are sent by the notify function (the state machines' failure path).
    for_each = each.key == "notify" && length(var.alert_topic_arns) > 0 ? [var.alert_topic_arns] : []
    content {
      sid       = "FailureAlerts"
      actions   = ["sns:Publish"]
      resources = statement.value
    }
  }
  dynamic "statement" {
    # What AWSLambdaVPCAccessExecutionRole grants; EC2 does not scope these to a resource.
    for_each = var.lambda_in_vpc ? ["*"] : []
    content {
      sid = "VpcNetworkInterfaces"
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = toset(var.lambda_roles)

  name   = "strata-lambda-${each.key}"
  role   = aws_iam_role.lambda[each.key].id
  policy = data.aws_iam_policy_document.lambda[each.key].json
}

# -- Step Functions ------------------------------------------------------------------------

resource "aws_iam_role" "states" {
  name               = "${local.prefix}-states"
  assume_role_policy = data.aws_iam_policy_document.assume["states"].json
}

data "aws_iam_policy_document" "states" {
  statement {
    sid       = "InvokeFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = concat(local.lambda_arns, [for arn in local.lambda_arns : "${arn}:*"])
  }
  statement {
    # What arn:aws:states:::glue:startJobRun.sync needs: start, poll, stop on abort.
    sid       = "RunGlueJobs"
    actions   = ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"]
    resources = local.glue_job_arns
  }
  statement {
    # What arn:aws:states:::sqs:sendMessage.waitForTaskToken needs: the on_premises steps.
    sid       = "SendOnPremTasks"
    actions   = ["sqs:SendMessage"]
    resources = [var.onprem_tasks_queue_arn]
  }
  statement {
    # CloudWatch Logs delivery for state machine logging does not support resource scoping.
    sid = "ExecutionLogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "states" {
  name   = "strata-state-machines"
  role   = aws_iam_role.states.id
  policy = data.aws_iam_policy_document.states.json
}

# -- EventBridge Scheduler -----------------------------------------------------------------

resource "aws_iam_role" "scheduler" {
  name               = "${local.prefix}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler"].json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "StartPipelines"
    actions   = ["states:StartExecution"]
    resources = local.state_machine_arns
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "strata-start-pipelines"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

# -- on-premise worker ---------------------------------------------------------------------
# One user for both processes on the premises: `strata worker weather_sales` (export queue,
# gold, warehouse secret) and `strata tasks` (the on-premises task queue; it runs the
# on_premises steps, today weather_sales' upload into raw/, with the lake's state database,
# and answers Step Functions). Access keys are created outside Terraform
# (`aws iam create-access-key`) so that the secret key never lands in the Terraform state.

resource "aws_iam_user" "worker" {
  name = "${local.prefix}-onprem-worker"
}

data "aws_iam_policy_document" "worker" {
  statement {
    sid = "ExportQueueReceive"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [var.export_queue_arn]
  }
  statement {
    sid       = "DeadLetterQueueLookup"
    actions   = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [var.export_dlq_arn]
  }
  statement {
    sid = "OnPremTasksReceive"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [var.onprem_tasks_queue_arn]
  }
  statement {
    # The Service Authorization Reference lists no resource type for these, but Step
    # Functions authorizes them against the state machine that issued the token (its
    # AccessDenied names that ARN; CDK's grantTaskResponse scopes them the same way).
    sid       = "OnPremTasksAnswer"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"]
    resources = local.onprem_state_machine_arns
  }
  statement {
    sid       = "LakeLocation"
    actions   = ["s3:GetBucketLocation"]
    resources = [var.lake_bucket_arn]
  }
  statement {
    sid       = "LakeList"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = local.worker_list_prefixes
    }
  }
  statement {
    sid       = "GoldRead"
    actions   = ["s3:GetObject"]
    resources = [for prefix in var.worker_gold_prefixes : "${var.lake_bucket_arn}/${prefix}*"]
  }
  statement {
    # The upload compares each file with the stored object (size, MD5) before it writes it.
    sid       = "RawUpload"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [for prefix in var.worker_upload_prefixes : "${var.lake_bucket_arn}/${prefix}*"]
  }
  statement {
    # state_in_lake: copied in before the step, written back (conditionally) after it.
    sid       = "StateDatabase"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [for key in local.state_objects : "${var.lake_bucket_arn}/${key}"]
  }
  statement {
    # The run report of each task it runs (_runs/<pipeline>/<execution>.<step>.<retry>.json).
    sid       = "RunReports"
    actions   = ["s3:PutObject"]
    resources = [for pipeline in var.onprem_pipelines : "${var.lake_bucket_arn}/_runs/${pipeline}/*"]
  }
  dynamic "statement" {
    for_each = length(lookup(var.secret_arns, "worker", [])) > 0 ? [var.secret_arns["worker"]] : []
    content {
      sid       = "WarehouseSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = statement.value
    }
  }
  dynamic "statement" {
    # Decrypt to read; GenerateDataKey to write raw/, the state database and reports.
    for_each = local.kms_keys
    content {
      sid       = "LakeKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_user_policy" "worker" {
  name   = "strata-onprem-worker"
  user   = aws_iam_user.worker.name
  policy = data.aws_iam_policy_document.worker.json
}

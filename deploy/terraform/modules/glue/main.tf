# One Glue job per engine step (script glue/<pipeline>_<step>.py written by
# `python -m strata.aws.glue --write-scripts`), one Data Catalog database per pipeline (filled
# by `strata catalog sync --glue`), and an Athena workgroup with a scan limit to query them.

locals {
  prefix = "strata-${var.env}"
  jobs = merge([
    for pipeline, steps in var.glue_jobs : {
      for step in steps : "${pipeline}_${step}" => { pipeline = pipeline, step = step }
    }
  ]...)
  artifacts = "s3://${var.artifacts_bucket}"
}

resource "aws_cloudwatch_log_group" "jobs" {
  name              = "/aws-glue/jobs/${local.prefix}"
  retention_in_days = var.log_retention_days
}

resource "aws_glue_job" "step" {
  for_each = local.jobs

  name              = "${local.prefix}-${each.value.pipeline}-${each.value.step}"
  description       = "strata: step ${each.value.step} of ${each.value.pipeline} (${var.env})"
  role_arn          = var.role_arn
  glue_version      = var.glue_version
  worker_type       = var.worker_type
  number_of_workers = var.number_of_workers
  timeout           = var.timeout_minutes
  # Step Functions owns retries (per-error Retry in the state machine).
  max_retries = 0

  command {
    name            = "glueetl"
    python_version  = "3"
    script_location = "${local.artifacts}/glue/${each.key}.py"
  }

  # One run of a job at a time: a second one would do the same work, and its state database
  # write-back would be refused anyway (--state_in_lake, conditional write).
  execution_property {
    max_concurrent_runs = 1
  }

  default_arguments = merge(
    {
      "--lake"                             = var.lake_uri
      "--env"                              = var.env
      "--state_dir"                        = "/tmp/strata"
      "--state_in_lake"                    = "true"
      "--workers"                          = tostring(var.spark_threads)
      "--additional-python-modules"        = "${local.artifacts}/${var.wheel_key}"
      "--TempDir"                          = "${local.artifacts}/glue-temp/"
      "--enable-metrics"                   = tostring(var.enable_metrics)
      "--enable-continuous-cloudwatch-log" = "true"
      "--continuous-log-logGroup"          = aws_cloudwatch_log_group.jobs.name
      "--job-language"                     = "python"
    },
    var.config_key == null ? {} : { "--extra-files" = "${local.artifacts}/${var.config_key}" },
  )
}

resource "aws_glue_catalog_database" "pipeline" {
  for_each = var.glue_jobs

  name        = "strata_${var.env}_${each.key}"
  description = "strata ${var.env}: bronze, silver and gold tables of ${each.key}, registered by `strata catalog sync --glue`"
}

resource "aws_athena_workgroup" "this" {
  name          = local.prefix
  description   = "strata ${var.env}: queries over the lake's Glue Data Catalog databases"
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    result_configuration {
      output_location = "${local.artifacts}/athena-results/"
      encryption_configuration {
        encryption_option = "SSE_S3"
      }
    }
  }
}

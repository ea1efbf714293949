output "job_names" {
  description = "Glue job name per engine step, keyed <pipeline>_<step> (the script's file name)."
  value       = { for key, job in aws_glue_job.step : key => job.name }
}

output "database_names" {
  description = "Glue Data Catalog database per pipeline (strata_<env>_<pipeline>)."
  value       = { for pipeline, db in aws_glue_catalog_database.pipeline : pipeline => db.name }
}

output "athena_workgroup" {
  description = "Athena workgroup to query the catalog with (results under athena-results/ of the artifacts bucket)."
  value       = aws_athena_workgroup.this.name
}

output "log_group_name" {
  description = "CloudWatch log group of the jobs' continuous logs."
  value       = aws_cloudwatch_log_group.jobs.name
}

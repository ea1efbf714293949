output "schedule_names" {
  description = "Schedule name per scheduled pipeline (empty when nothing is scheduled)."
  value       = { for pipeline, schedule in aws_scheduler_schedule.pipeline : pipeline => schedule.name }
}

output "schedule_group" {
  description = "The EventBridge Scheduler group holding the schedules."
  value       = aws_scheduler_schedule_group.this.name
}

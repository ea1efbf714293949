# Secrets for warehouse URLs, source database URLs and API keys. No aws_secretsmanager_secret_version
# on purpose: values never enter the Terraform state. Put them with
#   aws secretsmanager put-secret-value --secret-id strata/<env>/<key> --secret-string file://value.txt
# and refer to them in settings as aws-sm:strata/<env>/<key>.

resource "aws_secretsmanager_secret" "this" {
  for_each = var.secrets

  name                    = "strata/${var.env}/${each.key}"
  description             = each.value
  recovery_window_in_days = var.recovery_window_in_days
  kms_key_id              = var.kms_key_arn
}

"""Running Strata on AWS: Glue job entry points (`strata.aws.glue`)."""

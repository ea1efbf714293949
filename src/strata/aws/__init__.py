"""Running Strata on AWS.

- `strata.aws.asl`: pipelines as Step Functions state machines (`strata export asl`);
- `strata.aws.lambdas`: the Lambda handlers (ingest, process, load, notify) the machines invoke;
- `strata.aws.glue`: Glue job entry points for the engine steps;
- `strata.aws.tasks`: a worker for callback-mode machines (`strata tasks`);
- `strata.aws.catalog`: Glue Data Catalog registration (`strata catalog sync --glue`).

Deployment: docs/deploy-aws.md and deploy/terraform.
"""

terraform {
  # 1.10+: the S3 backend's native lock file (use_lockfile), no DynamoDB table.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # Partial configuration: the values are in backend.hcl (copy backend.hcl.example), given
  # at init time: terraform init -backend-config=backend.hcl
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "strata"
      environment = "prod"
      managed_by  = "terraform"
    }
  }
}

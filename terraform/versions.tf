terraform {
  # 1.0-level syntax only: the offline checks run Terraform 1.0.3.
  required_version = ">= 1.0.3, < 2.0.0"

  required_providers {
    snowflake = {
      source = "snowflakedb/snowflake"
      # Exact pin: the offline checks validate against this version's published schema.
      version = "2.22.0"
    }
  }

  # Remote state, one state per environment. Partial configuration: bucket, key, region and the
  # lock table come from environments/<env>.s3.tfbackend at `terraform init -backend-config=...`.
  backend "s3" {}
}

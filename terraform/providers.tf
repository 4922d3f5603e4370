# One provider configuration per Snowflake admin role, so that every object is created (and
# owned) by the least powerful role that may create it:
#   sysadmin      databases, schemas, warehouses
#   useradmin     functional roles
#   securityadmin service users and their network policy, every grant (MANAGE GRANTS)
#   accountadmin  resource monitors, the account's monitor, the PII tag and masking policy
#
# Terraform signs in as var.terraform_user with a key pair (SNOWFLAKE_JWT). The private key is
# never in code, tfvars or state: export SNOWFLAKE_PRIVATE_KEY (and SNOWFLAKE_PRIVATE_KEY_PASSPHRASE
# when it is encrypted) before running Terraform. Organization and account names may come from
# SNOWFLAKE_ORGANIZATION_NAME and SNOWFLAKE_ACCOUNT_NAME when the variables are left null.

provider "snowflake" {
  alias             = "sysadmin"
  organization_name = var.snowflake_organization_name
  account_name      = var.snowflake_account_name
  user              = var.terraform_user
  authenticator     = "SNOWFLAKE_JWT"
  role              = "SYSADMIN"
}

provider "snowflake" {
  alias             = "useradmin"
  organization_name = var.snowflake_organization_name
  account_name      = var.snowflake_account_name
  user              = var.terraform_user
  authenticator     = "SNOWFLAKE_JWT"
  role              = "USERADMIN"
}

provider "snowflake" {
  alias             = "securityadmin"
  organization_name = var.snowflake_organization_name
  account_name      = var.snowflake_account_name
  user              = var.terraform_user
  authenticator     = "SNOWFLAKE_JWT"
  role              = "SECURITYADMIN"
}

provider "snowflake" {
  alias             = "accountadmin"
  organization_name = var.snowflake_organization_name
  account_name      = var.snowflake_account_name
  user              = var.terraform_user
  authenticator     = "SNOWFLAKE_JWT"
  role              = "ACCOUNTADMIN"
}

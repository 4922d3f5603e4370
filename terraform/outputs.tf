# Names the other layers need (Meltano, dbt, Prefect, Evidence profiles). No keys, no secrets.

output "databases" {
  description = "Database name per logical database (RAW, STAGING, ANALYTICS)."
  value       = { for key, database in snowflake_database.this : key => database.name }
}

output "schemas" {
  description = "Fully qualified schema names, by DATABASE.SCHEMA key."
  value       = local.schema_fqn
}

output "warehouses" {
  description = "Warehouse name per logical warehouse."
  value       = { for key, warehouse in snowflake_warehouse.this : key => warehouse.name }
}

output "roles" {
  description = "Functional role name per logical role."
  value       = { for key, role in snowflake_account_role.this : key => role.name }
}

output "service_users" {
  description = "Sign-in name, role and warehouse of each tool's service user."
  value = {
    for key, user in snowflake_service_user.this : key => {
      user      = user.name
      role      = user.default_role
      warehouse = user.default_warehouse
    }
  }
}

output "monthly_credit_quotas" {
  description = "Monthly credit quota of each warehouse monitor (and of the account monitor, when managed here)."
  value = merge(
    { for key, monitor in snowflake_resource_monitor.warehouse : key => monitor.credit_quota },
    { for monitor in snowflake_resource_monitor.account : "ACCOUNT" => monitor.credit_quota },
  )
}

output "pii_tag" {
  description = "Fully qualified PII tag that dbt sets on the columns in pii_columns."
  value       = local.pii_tag_fqn
}

output "pii_columns" {
  description = "Mart columns (SCHEMA.TABLE.COLUMN in ANALYTICS) that must carry the PII tag, with the tag value."
  value       = local.governance.pii_columns
}

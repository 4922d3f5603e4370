resource "snowflake_database" "this" {
  for_each = local.platform.databases
  provider = snowflake.sysadmin

  name                           = local.database_names[each.key]
  comment                        = each.value.comment
  is_transient                   = each.value.transient
  data_retention_time_in_days    = each.value.data_retention_days[var.environment]
  drop_public_schema_on_creation = true
}

resource "snowflake_schema" "this" {
  for_each = merge(local.data_schemas, {
    "${local.governance.database}.${local.governance.schema}" = {
      database = local.governance.database
      name     = local.governance.schema
    }
  })
  provider = snowflake.sysadmin

  database = snowflake_database.this[each.value.database].name
  name     = each.value.name
  # Managed access: only the schema owner and SECURITYADMIN grant on its objects, so a tool
  # that creates a table cannot hand it to another role.
  with_managed_access = "true"
  # The database's retention unless platform.yaml gives the schema its own.
  data_retention_time_in_days = try(
    local.platform.databases[each.value.database].schema_retention_days[each.value.name][var.environment],
    null
  )
}
